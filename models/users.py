"""The `users` collection: accounts, their role, their provider selection."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

ROLES = ("user", "admin")
PROVIDERS = ("aws", "gcp", "azure", "local")


class EmailTaken(Exception):
    pass


@dataclass(frozen=True)
class User:
    id: str
    email: str
    role: str
    kms: str
    disabled: bool
    created_at: datetime
    password_hash: bytes = field(repr=False)

    @classmethod
    def from_doc(cls, doc: dict) -> "User":
        return cls(id=str(doc["_id"]), email=doc["email"], role=doc["role"], kms=doc["kms"],
                   disabled=doc.get("disabled", False), created_at=doc["created_at"],
                   password_hash=doc["password_hash"])

    def public(self) -> dict:
        return {"id": self.id, "email": self.email, "role": self.role, "kms": self.kms,
                "disabled": self.disabled, "created_at": self.created_at}


def _oid(user_id: str) -> ObjectId | None:
    try:
        return ObjectId(user_id)
    except (InvalidId, TypeError):
        return None


class Users:
    def __init__(self, db: Database):
        self.col = db["users"]

    def ensure_indexes(self) -> None:
        self.col.create_index([("email", ASCENDING)], unique=True, name="email_unique")

    def create(self, email: str, password_hash: bytes, role: str = "user", kms: str = "local") -> User:
        doc = {"email": email, "password_hash": password_hash, "role": role, "kms": kms,
               "disabled": False, "created_at": datetime.now(timezone.utc)}
        try:
            doc["_id"] = self.col.insert_one(doc).inserted_id
        except DuplicateKeyError:
            raise EmailTaken(email) from None
        return User.from_doc(doc)

    def by_email(self, email: str) -> User | None:
        doc = self.col.find_one({"email": email})
        return User.from_doc(doc) if doc else None

    def by_id(self, user_id: str) -> User | None:
        oid = _oid(user_id)
        doc = self.col.find_one({"_id": oid}) if oid else None
        return User.from_doc(doc) if doc else None

    def update(self, user_id: str, **fields) -> User | None:
        oid = _oid(user_id)
        if oid is None:
            return None
        doc = self.col.find_one_and_update({"_id": oid}, {"$set": fields}, return_document=ReturnDocument.AFTER)
        return User.from_doc(doc) if doc else None

    def page(self, limit: int, after: str | None = None) -> list[User]:
        query = {"_id": {"$gt": _oid(after)}} if after and _oid(after) else {}
        return [User.from_doc(d) for d in self.col.find(query).sort("_id", ASCENDING).limit(limit)]

"""The `secret_refs` collection: what MongoDB knows about a secret (never its value).

A reference moves through states so a crash between MongoDB and the provider
leaves something the reconciler can finish: `pending` (being created), `active`,
`deleting`. The unique (owner, name) index makes concurrent creates of one name
give exactly one winner, pending references included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

PENDING, ACTIVE, DELETING = "pending", "active", "deleting"


class NameTaken(Exception):
    pass


@dataclass(frozen=True)
class SecretRef:
    id: str
    owner_id: str
    name: str
    provider: str
    object_name: str
    state: str
    description: str | None
    versions: tuple[dict, ...]  # {version, provider_version, created_at}, oldest first
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_doc(cls, doc: dict) -> "SecretRef":
        return cls(id=str(doc["_id"]), owner_id=doc["owner_id"], name=doc["name"], provider=doc["provider"],
                   object_name=doc["object_name"], state=doc["state"], description=doc.get("description"),
                   versions=tuple(doc.get("versions", ())), created_at=doc["created_at"],
                   updated_at=doc.get("updated_at", doc["created_at"]))

    @property
    def latest(self) -> dict:
        return self.versions[-1]

    def version(self, number: int) -> dict | None:
        return next((v for v in self.versions if v["version"] == number), None)


class SecretRefs:
    def __init__(self, db: Database):
        self.col = db["secret_refs"]

    def ensure_indexes(self) -> None:
        self.col.create_index([("owner_id", ASCENDING), ("name", ASCENDING)], unique=True, name="owner_name_unique")
        self.col.create_index([("state", ASCENDING), ("updated_at", ASCENDING)], name="by_state")

    def reserve(self, owner_id: str, name: str, provider: str, description: str | None) -> SecretRef:
        """Insert a pending reference; NameTaken if the owner already has this name."""
        oid = ObjectId()
        now = datetime.now(timezone.utc)
        doc = {"_id": oid, "owner_id": owner_id, "name": name, "provider": provider,
               "object_name": f"kps-{oid}", "state": PENDING, "description": description,
               "versions": [], "version_seq": 1, "created_at": now, "updated_at": now}
        try:
            self.col.insert_one(doc)
        except DuplicateKeyError:
            raise NameTaken(name) from None
        return SecretRef.from_doc(doc)

    def activate(self, ref_id: str, provider_version: str) -> SecretRef:
        now = datetime.now(timezone.utc)
        doc = self.col.find_one_and_update(
            {"_id": ObjectId(ref_id), "state": PENDING},
            {"$set": {"state": ACTIVE, "updated_at": now,
                      "versions": [{"version": 1, "provider_version": provider_version, "created_at": now}]}},
            return_document=ReturnDocument.AFTER)
        return SecretRef.from_doc(doc)

    def park(self, ref_id: str) -> None:
        """Free the name of a pending reference the reconciler must still resolve."""
        self.col.update_one({"_id": ObjectId(ref_id), "state": PENDING}, {"$set": {"name": f"~{ref_id}"}})

    def active(self, owner_id: str, name: str) -> SecretRef | None:
        doc = self.col.find_one({"owner_id": owner_id, "name": name, "state": ACTIVE})
        return SecretRef.from_doc(doc) if doc else None

    def next_version(self, ref_id: str) -> int | None:
        """Reserve the next version number of an active secret."""
        doc = self.col.find_one_and_update({"_id": ObjectId(ref_id), "state": ACTIVE}, {"$inc": {"version_seq": 1}},
                                           projection={"version_seq": 1}, return_document=ReturnDocument.AFTER)
        return doc["version_seq"] if doc else None

    def add_version(self, ref_id: str, number: int, provider_version: str) -> SecretRef:
        now = datetime.now(timezone.utc)
        doc = self.col.find_one_and_update(
            {"_id": ObjectId(ref_id)},
            {"$push": {"versions": {"version": number, "provider_version": provider_version, "created_at": now}},
             "$set": {"updated_at": now}},
            return_document=ReturnDocument.AFTER)
        doc["versions"].sort(key=lambda v: v["version"])
        return SecretRef.from_doc(doc)

    def drop_version(self, ref_id: str, number: int) -> None:
        self.col.update_one({"_id": ObjectId(ref_id)}, {"$pull": {"versions": {"version": number}}})

    def mark_deleting(self, owner_id: str, name: str) -> SecretRef | None:
        doc = self.col.find_one_and_update(
            {"owner_id": owner_id, "name": name, "state": ACTIVE},
            {"$set": {"state": DELETING, "updated_at": datetime.now(timezone.utc)}},
            return_document=ReturnDocument.AFTER)
        return SecretRef.from_doc(doc) if doc else None

    def restore(self, ref_id: str) -> None:
        self.col.update_one({"_id": ObjectId(ref_id), "state": DELETING}, {"$set": {"state": ACTIVE}})

    def remove(self, ref_id: str) -> None:
        self.col.delete_one({"_id": ObjectId(ref_id)})

    def page(self, owner_id: str, limit: int, after_name: str | None = None) -> list[SecretRef]:
        query = {"owner_id": owner_id, "state": ACTIVE}
        if after_name:
            query["name"] = {"$gt": after_name}
        return [SecretRef.from_doc(d) for d in self.col.find(query).sort("name", ASCENDING).limit(limit)]

    def stale(self, older_than_seconds: float) -> list[SecretRef]:
        """References left pending or deleting for longer than any request can take."""
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=older_than_seconds)
        query = {"state": {"$in": [PENDING, DELETING]}, "updated_at": {"$lte": cutoff}}
        return [SecretRef.from_doc(d) for d in self.col.find(query)]

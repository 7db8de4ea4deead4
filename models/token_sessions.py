"""The `token_sessions` collection: one document per login, shared by its tokens.

Every access and refresh token carries its session id (`sid`). A token is accepted
only while its session exists and is not revoked, so logout, a role change, a
password change or disabling an account takes effect on outstanding tokens at
once, in every worker, and survives restarts. A TTL index removes a session when
its refresh token would have expired anyway. Checking a token is one indexed
lookup that also yields the actor (id, email, role) for the request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pymongo import ASCENDING
from pymongo.database import Database


@dataclass(frozen=True)
class TokenSession:
    id: str
    user_id: str
    email: str
    role: str


class TokenSessions:
    def __init__(self, db: Database):
        self.col = db["token_sessions"]

    def ensure_indexes(self) -> None:
        self.col.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl")
        self.col.create_index([("user_id", ASCENDING)], name="by_user")

    def open(self, user_id: str, email: str, role: str, lifetime_seconds: int) -> TokenSession:
        now = datetime.now(timezone.utc)
        sid = uuid.uuid4().hex
        self.col.insert_one({"_id": sid, "user_id": user_id, "email": email, "role": role,
                             "created_at": now, "expires_at": now + timedelta(seconds=lifetime_seconds)})
        return TokenSession(sid, user_id, email, role)

    def active(self, sid: str) -> TokenSession | None:
        # By `_id` alone, the rest checked here: the cheapest lookup on any server.
        doc = self.col.find_one({"_id": sid}, {"user_id": 1, "email": 1, "role": 1, "revoked_at": 1, "expires_at": 1})
        if doc is None or doc.get("revoked_at") is not None or doc["expires_at"] <= datetime.now(timezone.utc):
            return None
        return TokenSession(doc["_id"], doc["user_id"], doc["email"], doc["role"])

    def revoke(self, sid: str) -> bool:
        return self.col.update_one({"_id": sid, "revoked_at": None},
                                   {"$set": {"revoked_at": datetime.now(timezone.utc)}}).modified_count == 1

    def revoke_all(self, user_id: str) -> int:
        return self.col.update_many({"user_id": user_id, "revoked_at": None},
                                    {"$set": {"revoked_at": datetime.now(timezone.utc)}}).modified_count

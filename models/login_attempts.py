"""The `login_attempts` collection: consecutive failed logins per submitted email.

Counted whether or not the account exists, so a lockout does not reveal which
emails are registered. Shared by every worker; a TTL index forgets old entries.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database


class LoginAttempts:
    def __init__(self, db: Database, max_failures: int, lockout_seconds: int):
        self.col = db["login_attempts"]
        self.max_failures = max_failures
        self.lockout = timedelta(seconds=lockout_seconds)

    def ensure_indexes(self) -> None:
        self.col.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl")

    def locked_for(self, email: str) -> float | None:
        """Seconds left on this email's lockout, or None when it may try."""
        doc = self.col.find_one({"_id": email}, {"locked_until": 1})
        until = doc and doc.get("locked_until")
        if until and until > datetime.now(timezone.utc):
            return (until - datetime.now(timezone.utc)).total_seconds()
        return None

    def failed(self, email: str) -> float | None:
        """Count a failure; return the lockout's length when this one triggers it."""
        now = datetime.now(timezone.utc)
        doc = self.col.find_one_and_update(
            {"_id": email},
            {"$inc": {"failures": 1}, "$set": {"expires_at": now + self.lockout}},
            upsert=True, return_document=ReturnDocument.AFTER)
        if doc["failures"] < self.max_failures:
            return None
        self.col.update_one({"_id": email}, {"$set": {"failures": 0, "locked_until": now + self.lockout,
                                                      "expires_at": now + self.lockout}})
        return self.lockout.total_seconds()

    def succeeded(self, email: str) -> None:
        self.col.delete_one({"_id": email})

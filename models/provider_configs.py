"""The `provider_configs` collection: one document per configured provider.

Settings are stored as given; credentials only as AES-256-GCM ciphertext under
KPS_MASTER_KEY, with the provider's name as associated data so a ciphertext
cannot be moved to another provider's document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pymongo.database import Database

from kms.crypto import DecryptionError, Keyring, Sealed


@dataclass(frozen=True)
class ProviderConfig:
    provider: str
    settings: dict[str, Any]
    credentials: dict[str, Any] | None = field(repr=False)
    revision: int
    updated_at: datetime
    credentials_unreadable: bool = False  # sealed under a master key this server does not hold


def _aad(provider: str) -> bytes:
    return f"keyproxy/provider-config/{provider}".encode()


class ProviderConfigs:
    def __init__(self, db: Database, keyring: Keyring):
        self.col = db["provider_configs"]
        self.keyring = keyring

    def ensure_indexes(self) -> None:
        pass  # keyed by _id (the provider's name)

    def save(self, provider: str, settings: dict, credentials: dict | None, updated_by: str | None) -> ProviderConfig:
        sealed = None
        if credentials:
            sealed = self.keyring.seal(json.dumps(credentials).encode(), _aad(provider)).to_doc()
        now = datetime.now(timezone.utc)
        doc = self.col.find_one_and_update(
            {"_id": provider},
            {"$set": {"settings": settings, "credentials": sealed, "updated_at": now, "updated_by": updated_by},
             "$inc": {"revision": 1}},
            upsert=True, return_document=True)
        return self._from_doc(doc)

    def get(self, provider: str) -> ProviderConfig | None:
        doc = self.col.find_one({"_id": provider})
        return self._from_doc(doc) if doc else None

    def all(self) -> list[ProviderConfig]:
        return [self._from_doc(d) for d in self.col.find({}).sort("_id", 1)]

    def remove(self, provider: str) -> bool:
        return self.col.delete_one({"_id": provider}).deleted_count == 1

    def rewrap_all(self) -> int:
        """Re-encrypt credentials sealed under a previous master key; returns how many."""
        count = 0
        for doc in self.col.find({"credentials": {"$ne": None}}):
            sealed = Sealed.from_doc(doc["credentials"])
            if self.keyring.needs_rewrap(sealed):
                plaintext = self.keyring.open(sealed, _aad(doc["_id"]))
                resealed = self.keyring.seal(plaintext, _aad(doc["_id"])).to_doc()
                # Only if unchanged meanwhile: never overwrite an admin's new credentials.
                result = self.col.update_one({"_id": doc["_id"], "revision": doc.get("revision")},
                                             {"$set": {"credentials": resealed}})
                count += result.modified_count
        return count

    def _from_doc(self, doc: dict) -> ProviderConfig:
        credentials, unreadable = None, False
        if doc.get("credentials"):
            try:
                credentials = json.loads(self.keyring.open(Sealed.from_doc(doc["credentials"]), _aad(doc["_id"])))
            except DecryptionError:
                unreadable = True
        return ProviderConfig(doc["_id"], doc.get("settings", {}), credentials, doc.get("revision", 1),
                              doc["updated_at"], unreadable)

"""The built-in provider: secrets in MongoDB, envelope-encrypted under the master key.

Collection ``local_secrets``, one document per object::

    {_id: object_name, org, owner, created_at,
     versions: [{v: 1, created_at, dek: <Sealed doc>, data: <Sealed doc>}, ...]}

Each version has a fresh data key (``dek``), sealed under the master key; the value
is sealed under the data key. Both seals' associated data name the org, the owner,
the object and the version number, so a ciphertext copied to another record or
version no longer opens. Version ids are ``str(v)``.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from typing import Any, Mapping

from pymongo.errors import (
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    WTimeoutError,
)

from kms.crypto import DecryptionError, Keyring, Sealed, new_data_key
from kms.providers.base import (
    AccessDenied,
    BadProviderConfig,
    ProviderContext,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    SecretAlreadyExists,
    SecretNotFound,
    SecretVersion,
)

log = logging.getLogger(__name__)

COLLECTION = "local_secrets"
# add_version retries when another writer took the version number it chose. Each
# lost attempt means some other version landed, so only a flood of concurrent
# writers on one secret can use these up.
MAX_ADD_ATTEMPTS = 64
_VERSION_ID = re.compile(r"[1-9][0-9]{0,17}")
_AAD_FORMAT = "keyproxy/local-secret/v1"
_MONGO_AUTH_CODES = {13, 18}  # Unauthorized, AuthenticationFailed


class LocalSecretStore:
    name = "local"

    def __init__(self, collection: Any, keyring: Keyring, org_id: str):
        self._collection = collection
        self._keyring = keyring
        self.org_id = org_id

    def __repr__(self) -> str:
        return f"LocalSecretStore(org_id={self.org_id!r}, collection={COLLECTION!r})"

    def create(self, object_name: str, value: str, labels: Mapping[str, str]) -> str:
        owner = labels.get("owner", "")
        now = _now()
        first = _seal_version(self._keyring, self.org_id, owner, object_name, 1, value, now)
        doc = {"_id": object_name, "org": self.org_id, "owner": owner, "created_at": now,
               "versions": [first]}
        try:
            self._collection.insert_one(doc)
        except PyMongoError as exc:
            raise _translate(exc) from None
        return "1"

    def add_version(self, object_name: str, value: str) -> str:
        for _ in range(MAX_ADD_ATTEMPTS):
            doc = self._find(object_name, {"owner": 1, "versions": {"$slice": -1}})
            v = doc["versions"][-1]["v"] + 1
            entry = _seal_version(self._keyring, self.org_id, doc["owner"], object_name, v,
                                  value, _now())
            # Pushes only if nobody has taken number v meanwhile.
            condition = {"_id": object_name, "org": self.org_id, "versions.v": {"$ne": v}}
            try:
                result = self._collection.update_one(condition, {"$push": {"versions": entry}})
            except PyMongoError as exc:
                raise _translate(exc) from None
            if result.matched_count:
                return str(v)
        raise ProviderUnavailable("too many concurrent changes to this secret")

    def read(self, object_name: str, version_id: str | None = None) -> SecretVersion:
        if version_id is None:
            wanted: dict = {"$slice": -1}
        elif _VERSION_ID.fullmatch(version_id):
            wanted = {"$elemMatch": {"v": int(version_id)}}
        else:
            raise SecretNotFound()  # not an id this provider issues
        doc = self._find(object_name, {"owner": 1, "versions": wanted})
        if not doc.get("versions"):
            raise SecretNotFound()
        entry = doc["versions"][-1]
        value = _open_version(self._keyring, self.org_id, doc.get("owner"), object_name, entry)
        return SecretVersion(value=value, version_id=str(entry["v"]),
                             created_at=entry.get("created_at"))

    def list_versions(self, object_name: str) -> list[str]:
        doc = self._find(object_name, {"versions.v": 1})
        return [str(entry["v"]) for entry in doc["versions"]]

    def delete(self, object_name: str) -> None:
        try:
            result = self._collection.delete_one({"_id": object_name, "org": self.org_id})
        except PyMongoError as exc:
            raise _translate(exc) from None
        if not result.deleted_count:
            raise SecretNotFound()

    def check(self) -> None:
        try:
            self._collection.database.command("ping")
        except PyMongoError as exc:
            raise _translate(exc) from None

    def _find(self, object_name: str, projection: dict) -> dict:
        try:
            doc = self._collection.find_one({"_id": object_name, "org": self.org_id}, projection)
        except PyMongoError as exc:
            raise _translate(exc) from None
        if doc is None:
            raise SecretNotFound()
        return doc


def rewrap_all(db: Any, keyring: Keyring) -> int:
    """Re-seal every data key still under a previous master key under the current
    one, leaving the values' ciphertexts as they are. Returns how many were re-sealed.
    Safe to re-run and to run beside live traffic: each update applies only if the
    data keys it replaces are still the ones it read."""
    collection = db[COLLECTION]
    rewrapped = 0
    stale = {"versions": {"$elemMatch": {"dek.kid": {"$ne": keyring.current_kid}}}}
    try:
        for doc in collection.find(stale, {"org": 1, "owner": 1, "versions.v": 1,
                                           "versions.dek": 1}):
            condition: dict[str, Any] = {"_id": doc["_id"]}
            changes: dict[str, Any] = {}
            for i, entry in enumerate(doc["versions"]):
                sealed = _sealed(entry["dek"])
                if not keyring.needs_rewrap(sealed):
                    continue
                aad = _aad("dek", doc["org"], doc.get("owner"), doc["_id"], entry["v"])
                data_key = _open(keyring, sealed, aad)
                changes[f"versions.{i}.dek"] = keyring.seal(data_key, aad).to_doc()
                condition[f"versions.{i}.v"] = entry["v"]
                condition[f"versions.{i}.dek.kid"] = sealed.kid
            if changes and collection.update_one(condition, {"$set": changes}).modified_count:
                rewrapped += len(changes)
    except PyMongoError as exc:
        raise _translate(exc) from None
    return rewrapped


def _aad(part: str, org: str, owner: str | None, object_name: str, v: int) -> bytes:
    # A JSON array: unambiguous whatever characters the fields hold.
    return json.dumps([_AAD_FORMAT, part, org, owner, object_name, v],
                      separators=(",", ":")).encode()


def _seal_version(keyring: Keyring, org: str, owner: str, object_name: str, v: int,
                  value: str, now: datetime) -> dict:
    data_key = new_data_key()
    wrapped = keyring.seal(data_key, _aad("dek", org, owner, object_name, v))
    data = keyring.seal(value.encode("utf-8"), _aad("data", org, owner, object_name, v),
                        key=data_key)
    return {"v": v, "created_at": now, "dek": wrapped.to_doc(), "data": data.to_doc()}


def _open_version(keyring: Keyring, org: str, owner: str | None, object_name: str,
                  entry: dict) -> str:
    v = entry["v"]
    data_key = _open(keyring, _sealed(entry["dek"]), _aad("dek", org, owner, object_name, v))
    plaintext = _open(keyring, _sealed(entry["data"]), _aad("data", org, owner, object_name, v),
                      key=data_key)
    return plaintext.decode("utf-8")


def _sealed(doc: Any) -> Sealed:
    try:
        return Sealed.from_doc(doc)
    except (KeyError, TypeError, ValueError):
        raise ProviderError("the stored secret record is malformed") from None


def _open(keyring: Keyring, sealed: Sealed, aad: bytes, key: bytes | None = None) -> bytes:
    if key is None and not keyring.has(sealed.kid):
        raise ProviderError("stored data key is sealed under a master key this server lacks")
    try:
        return keyring.open(sealed, aad, key=key)
    except DecryptionError:
        raise ProviderError("stored ciphertext failed authentication") from None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _translate(exc: PyMongoError) -> ProviderError:
    """The provider error for a pymongo error. Never carries the driver's text."""
    if isinstance(exc, DuplicateKeyError):
        return SecretAlreadyExists()
    if isinstance(exc, (NetworkTimeout, ExecutionTimeout, WTimeoutError)):
        error: ProviderError = ProviderTimeout()
    elif isinstance(exc, ConnectionFailure):  # ServerSelectionTimeoutError, AutoReconnect
        error = ProviderUnavailable()
    elif isinstance(exc, OperationFailure) and exc.code in _MONGO_AUTH_CODES:
        error = AccessDenied()
    else:
        error = ProviderError()
    log.warning("local secret store call failed: %s code=%s", type(exc).__name__,
                getattr(exc, "code", None))
    return error


def build(ctx: ProviderContext) -> LocalSecretStore:
    if ctx.db is None or ctx.keyring is None:
        raise BadProviderConfig("the local provider needs the database and the master keyring")
    return LocalSecretStore(ctx.db[COLLECTION], ctx.keyring, ctx.org_id)

"""AES-256-GCM under KPS_MASTER_KEY, with room for rotation.

A ``Keyring`` holds the current master key and any previous ones. Everything it
seals names the key that sealed it (``kid``), so data sealed under a previous key
still opens while ``flask kps rotate-master-key`` re-wraps it under the current one.
Purpose-specific keys (the audit chain's HMAC key) are derived with HKDF so one
master key never serves two purposes directly.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12


class DecryptionError(Exception):
    """Ciphertext did not authenticate: wrong key, wrong associated data, or tampering."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"kps-key-id" + key).hexdigest()[:16]


def decode_master_key(text: str) -> bytes:
    """Base64 of exactly 32 bytes, or ValueError with a message safe to show."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (ValueError, TypeError):
        raise ValueError("KPS_MASTER_KEY must be base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"KPS_MASTER_KEY must decode to {KEY_BYTES} bytes")
    return key


@dataclass(frozen=True)
class Sealed:
    """An AES-256-GCM ciphertext and what is needed to open it (never the key)."""

    kid: str
    nonce: bytes
    ciphertext: bytes

    def to_doc(self) -> dict:
        return {"kid": self.kid, "nonce": self.nonce, "ct": self.ciphertext}

    @classmethod
    def from_doc(cls, doc: dict) -> "Sealed":
        return cls(kid=doc["kid"], nonce=bytes(doc["nonce"]), ciphertext=bytes(doc["ct"]))


class Keyring:
    def __init__(self, current: bytes, previous: tuple[bytes, ...] = ()):
        if len(current) != KEY_BYTES or any(len(k) != KEY_BYTES for k in previous):
            raise ValueError("master keys must be 32 bytes")
        self._current = current
        self.current_kid = key_id(current)
        self._keys = {key_id(k): k for k in (*previous, current)}
        self._derived: dict[tuple[str, str], bytes] = {}

    def __repr__(self) -> str:
        return f"Keyring(current_kid={self.current_kid!r}, keys=***)"

    def seal(self, plaintext: bytes, aad: bytes, key: bytes | None = None) -> Sealed:
        """Encrypt under ``key`` (a data key) or else the current master key."""
        nonce = os.urandom(NONCE_BYTES)
        use = key if key is not None else self._current
        kid = "dek" if key is not None else self.current_kid
        return Sealed(kid, nonce, AESGCM(use).encrypt(nonce, plaintext, aad))

    def open(self, sealed: Sealed, aad: bytes, key: bytes | None = None) -> bytes:
        use = key if key is not None else self._keys.get(sealed.kid)
        if use is None:
            raise DecryptionError("sealed under a master key this server does not hold")
        try:
            return AESGCM(use).decrypt(sealed.nonce, sealed.ciphertext, aad)
        except InvalidTag:
            raise DecryptionError("ciphertext failed authentication") from None

    def needs_rewrap(self, sealed: Sealed) -> bool:
        return sealed.kid != self.current_kid

    def derive(self, purpose: str, kid: str | None = None) -> bytes:
        """A 32-byte key for one purpose, derived from the master key ``kid`` (default current)."""
        kid = kid or self.current_kid
        derived = self._derived.get((purpose, kid))
        if derived is None:  # derived once per key and purpose: every audit event needs one
            derived = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                           info=f"keyproxy/{purpose}".encode()).derive(self._keys[kid])
            self._derived[(purpose, kid)] = derived
        return derived

    def has(self, kid: str) -> bool:
        return kid in self._keys


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)

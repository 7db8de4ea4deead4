"""bcrypt password hashing.

bcrypt only reads 72 bytes. Rather than truncating (two passwords sharing their
first 72 bytes would match) or refusing long passphrases, every password is
pre-hashed: bcrypt(base64(SHA-256(password))), 44 ASCII bytes with no NUL. The
policy allows 12 to 1,024 characters.
"""

from __future__ import annotations

import base64
import hashlib

import bcrypt

MIN_LENGTH = 12
MAX_LENGTH = 1024


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password(password: str, rounds: int) -> bytes:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds))


def verify_password(password: str, password_hash: bytes) -> bool:
    return bcrypt.checkpw(_prehash(password), bytes(password_hash))


class PasswordHasher:
    """Hashing at the configured cost, with a dummy hash so that an unknown email
    costs the same time as a wrong password."""

    def __init__(self, rounds: int):
        self.rounds = rounds
        self._dummy = hash_password("not-a-real-password-0000", rounds)

    def hash(self, password: str) -> bytes:
        return hash_password(password, self.rounds)

    def verify(self, password: str, password_hash: bytes | None) -> bool:
        if password_hash is None:
            verify_password(password, self._dummy)
            return False
        return verify_password(password, password_hash)

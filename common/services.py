"""The per-process service container, kept at ``app.extensions["kps"]``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pymongo
from pymongo.database import Database

from audit.log import AuditLog
from auth.passwords import PasswordHasher
from common.config import Settings
from kms.crypto import Keyring
from models.audit_events import AuditEvents
from models.embedded import EmbeddedMongo
from models.login_attempts import LoginAttempts
from models.token_sessions import TokenSessions
from models.users import Users


@dataclass
class Services:
    settings: Settings
    client: pymongo.MongoClient
    db: Database
    embedded: EmbeddedMongo | None
    keyring: Keyring
    hasher: PasswordHasher
    users: Users
    sessions: TokenSessions
    attempts: LoginAttempts
    audit: AuditLog
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, client, db, embedded) -> "Services":
        keyring = Keyring(settings.master_key, settings.previous_master_keys)
        return cls(
            settings=settings, client=client, db=db, embedded=embedded, keyring=keyring,
            hasher=PasswordHasher(settings.bcrypt_rounds),
            users=Users(db), sessions=TokenSessions(db),
            attempts=LoginAttempts(db, settings.login_max_failures, settings.login_lockout_seconds),
            audit=AuditLog(AuditEvents(db), keyring),
        )

    def ensure_indexes(self) -> None:
        for repository in (self.users, self.sessions, self.attempts, self.audit.events):
            repository.ensure_indexes()

    def close(self) -> None:
        self.client.close()
        if self.embedded is not None:
            self.embedded.stop()

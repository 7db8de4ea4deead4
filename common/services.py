"""The per-process service container, kept at ``app.extensions["kps"]``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pymongo
from pymongo.database import Database

from audit.log import AuditLog
from audit.sequencer import HostSequencer
from auth.passwords import PasswordHasher
from common.config import Settings
from kms.crypto import Keyring
from kms.read_cache import ReadCache
from models.audit_events import AuditEvents
from models.login_attempts import LoginAttempts
from models.provider_configs import ProviderConfigs
from models.secret_refs import SecretRefs
from models.token_sessions import TokenSessions
from models.users import Users


@dataclass
class Services:
    settings: Settings
    client: pymongo.MongoClient
    db: Database
    embedded: Any  # models.embedded.EmbeddedMongo when MONGO_URI is unset
    keyring: Keyring
    hasher: PasswordHasher
    users: Users
    sessions: TokenSessions
    attempts: LoginAttempts
    audit: AuditLog
    secret_refs: SecretRefs
    provider_configs: ProviderConfigs
    read_cache: ReadCache
    stores: Any = None  # kms.configs.StoreCache, set once the services exist

    @classmethod
    def build(cls, settings: Settings, client, db, embedded) -> "Services":
        from kms.configs import StoreCache

        services = cls._build(settings, client, db, embedded)
        services.stores = StoreCache(services)
        return services

    @classmethod
    def _build(cls, settings: Settings, client, db, embedded) -> "Services":
        keyring = Keyring(settings.master_key, settings.previous_master_keys)
        return cls(
            settings=settings, client=client, db=db, embedded=embedded, keyring=keyring,
            hasher=PasswordHasher(settings.bcrypt_rounds),
            users=Users(db), sessions=TokenSessions(db),
            attempts=LoginAttempts(db, settings.login_max_failures, settings.login_lockout_seconds),
            audit=AuditLog(AuditEvents(db), keyring, HostSequencer(
                settings.data_dir / f"audit-head-{re.sub(r'[^A-Za-z0-9_-]', '_', settings.mongo_db)}.lock")),
            secret_refs=SecretRefs(db), provider_configs=ProviderConfigs(db, keyring),
            read_cache=ReadCache(settings.cache_ttl_seconds, settings.cache_max_entries),
        )

    def ensure_indexes(self) -> None:
        for repository in (self.users, self.sessions, self.attempts, self.audit.events, self.secret_refs,
                           self.provider_configs):
            repository.ensure_indexes()

    def close(self) -> None:
        self.audit.close()
        self.client.close()
        if self.embedded is not None:
            self.embedded.stop()

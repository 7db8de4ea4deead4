"""Provider configuration for the organisation, and the per-process store cache.

An SDK client is built once per configuration revision and reused: building one
per request costs tens of milliseconds. A configuration document is re-read at
most every CONFIG_TTL seconds per process (this process's own changes apply at
once), so other workers pick up an admin's change within that time.
"""

from __future__ import annotations

import threading
import time

from flask import current_app, g
from marshmallow import ValidationError

from audit.log import record
from common.metrics import InstrumentedStore
from common.errors import BadRequest, Conflict, NotFound
from kms.providers import build_store
from kms.providers.base import AccessDenied, BadProviderConfig, ProviderContext, ProviderError, SecretStore, TimeBudget
from kms.schemas import CUSTOM_ENDPOINT_FIELDS, PROVIDER_FIELDS
from models.provider_configs import ProviderConfig

CONFIG_TTL = 5.0
LOCAL = "local"


def _kps():
    return current_app.extensions["kps"]


class StoreCache:
    def __init__(self, services):
        self.services = services
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, int, SecretStore | None]] = {}

    def _context(self, config: ProviderConfig | None) -> ProviderContext:
        s = self.services.settings
        return ProviderContext(
            settings=config.settings if config else {}, credentials=config.credentials if config else None,
            seed=s.seed, budget=TimeBudget(s.provider_connect_timeout, s.provider_read_timeout, s.provider_max_attempts),
            db=self.services.db, keyring=self.services.keyring)

    def get(self, provider: str) -> SecretStore | None:
        """The store for a configured provider (``local`` always is), else None."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(provider)
        if entry and entry[0] > now:
            return entry[2]
        config = self.services.provider_configs.get(provider)
        if config is not None and config.credentials_unreadable:
            raise BadProviderConfig("the stored credentials cannot be decrypted with the configured master keys")
        revision = config.revision if config else 0
        if provider != LOCAL and config is None:
            store = None
        elif entry and entry[1] == revision and entry[2] is not None:
            store = entry[2]  # unchanged configuration: keep the client
        else:
            store = self.build(provider, config)
        self.remember(provider, revision, store)
        return store

    def remember(self, provider: str, revision: int, store: SecretStore | None) -> None:
        with self._lock:
            self._entries[provider] = (time.monotonic() + CONFIG_TTL, revision, store)

    def build(self, provider: str, config: ProviderConfig | None) -> SecretStore:
        return InstrumentedStore(provider, build_store(provider, self._context(config)))

    def health(self) -> dict:
        """Each provider's last observed call outcome in this process (no provider call)."""
        with self._lock:
            entries = dict(self._entries)
        return {name: {"last_outcome": entry[2].last_outcome[0] if entry[2] and entry[2].last_outcome else None}
                for name, entry in sorted(entries.items()) if entry[2] is not None}

    def forget(self, provider: str) -> None:
        with self._lock:
            self._entries.pop(provider, None)


def split_settings(provider: str, body: dict) -> tuple[dict, dict | None]:
    """The provider's own settings and validated credentials from a request body."""
    required, optional, credentials_schema = PROVIDER_FIELDS[provider]
    settings = {name: body[name] for name in (*required, *optional) if body.get(name) is not None}
    seed_vault = _kps().settings.seed.get("AZURE_VAULT_URL")
    if provider == "azure" and seed_vault and "vault_url" not in settings:  # the original README's variable
        settings["vault_url"] = seed_vault
    missing = [name for name in required if name not in settings]
    if missing:
        raise BadRequest(f"The {provider} provider needs: {', '.join(missing)}.", reason="missing-settings",
                         extra={"errors": {name: ["Missing data for required field."] for name in missing}})
    if not _kps().settings.allow_custom_endpoints and any(f in settings for f in CUSTOM_ENDPOINT_FIELDS):
        raise BadRequest("Custom provider endpoints are refused in production (KPS_ALLOW_CUSTOM_ENDPOINTS).",
                         reason="custom-endpoint-refused")
    credentials = body.get("credentials")
    if credentials and credentials_schema is not None:
        try:
            credentials = credentials_schema().load(credentials)
        except ValidationError as error:
            raise BadRequest("The credentials are not valid.", reason="bad-credentials",
                             extra={"errors": {"credentials": error.messages}}) from None
    return settings, (credentials or None) if credentials_schema else None


def public_view(config: ProviderConfig | None, provider: str) -> dict:
    return {"provider": provider, "configured": provider == LOCAL or config is not None,
            "settings": dict(config.settings) if config else {},
            "has_credentials": bool(config and config.credentials),
            "updated_at": config.updated_at if config else None}


def configure(provider: str, body: dict) -> dict:
    kps = _kps()
    target = {"type": "provider", "name": provider}
    if provider == LOCAL:  # always available; configuring it changes nothing
        record("kms.configure", "success", 200, target=target)
        return {"provider": LOCAL, "configured": True}
    settings, credentials = split_settings(provider, body)
    try:
        store = kps.stores.build(provider, ProviderConfig(provider, settings, credentials, 0, None))
    except ProviderError as error:
        record("kms.configure", "failure", 400, target=target, reason=type(error).__name__)
        raise BadRequest(f"The {provider} settings cannot be used: {error}.", reason="bad-provider-config") from None
    config = kps.provider_configs.save(provider, settings, credentials, g.actor.user_id)
    kps.stores.remember(provider, config.revision, store)  # the client just built serves this revision
    record("kms.configure", "success", 200, target=target)
    return {"provider": provider, "configured": True, **config.settings, "has_credentials": bool(credentials)}


def remove(provider: str) -> None:
    kps = _kps()
    if provider == LOCAL:
        raise Conflict("The local provider is built in and cannot be removed.", reason="local-provider")
    if not kps.provider_configs.remove(provider):
        raise NotFound(f"The {provider} provider is not configured.")
    kps.stores.forget(provider)
    record("kms.remove", "success", 204, target={"type": "provider", "name": provider})


def list_providers() -> dict:
    configs = {c.provider: c for c in _kps().provider_configs.all()}
    return {"providers": [public_view(configs.get(name), name) for name in PROVIDER_FIELDS]}


def test(provider: str) -> dict:
    target = {"type": "provider", "name": provider}
    try:
        store = _kps().stores.get(provider)
        if store is None:
            raise Conflict(f"The {provider} provider is not configured yet.", reason="provider-not-configured")
        store.check()
    except ProviderError as error:
        record("kms.test", "failure", 200, target=target, reason=type(error).__name__)
        return {"provider": provider, "reachable": isinstance(error, AccessDenied), "authorized": False, "detail": str(error)}
    record("kms.test", "success", 200, target=target)
    return {"provider": provider, "reachable": True, "authorized": True, "detail": "ok"}

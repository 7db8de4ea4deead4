"""Settings, read once from the environment (and `.env`) into one object.

Tests pass overrides to ``create_app`` using the same names as the environment
variables. Development generates missing keys once into the data dir; production
refuses to start without strong ones.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets as std_secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from dotenv import dotenv_values

from kms.crypto import decode_master_key

log = logging.getLogger(__name__)

SEED_VARIABLES = (
    "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "GCP_CREDENTIALS_JSON",
    "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_VAULT_URL",
)
MIN_JWT_SECRET_BYTES = 32


class ConfigError(Exception):
    """The configuration cannot be used; the message says what to fix (never a key)."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    env: str
    host: str
    port: int
    data_dir: Path
    mongo_uri: str | None
    mongo_db: str
    jwt_secret_key: str = field(repr=False)
    master_key: bytes = field(repr=False)
    previous_master_keys: tuple[bytes, ...] = field(repr=False, default=())
    bcrypt_rounds: int = 12
    access_token_seconds: int = 900
    refresh_token_seconds: int = 7 * 24 * 3600
    login_max_failures: int = 5
    login_lockout_seconds: int = 900
    rate_limit: str = "30/minute"
    cors_origins: tuple[str, ...] = ()
    trusted_proxies: int = 0
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: str | None = field(repr=False, default=None)
    allow_custom_endpoints: bool = True
    provider_connect_timeout: float = 2.0
    provider_read_timeout: float = 5.0
    provider_max_attempts: int = 2
    cache_ttl_seconds: float = 0.0
    cache_max_entries: int = 10_000
    workers: int = 2
    threads: int = 8
    seed: Mapping[str, str] = field(repr=False, default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"


def load_settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    """Environment, then `.env` for what the environment lacks, then ``overrides``."""
    dotenv = {k: v for k, v in dotenv_values(".env").items() if v}
    if "REQUESTS_CA_BUNDLE" in dotenv:  # read by the SDKs themselves, so it must be in the environment
        os.environ.setdefault("REQUESTS_CA_BUNDLE", dotenv["REQUESTS_CA_BUNDLE"])
    source: dict[str, Any] = dict(dotenv)
    source.update(os.environ)
    source.update({k: v for k, v in (overrides or {}).items()})

    def get(name: str, default: Any = None) -> Any:
        value = source.get(name)
        return default if value in (None, "") else value

    env = str(get("KPS_ENV", "development")).lower()
    production = env == "production"
    data_dir = Path(get("KPS_DATA_DIR", "./var")).resolve()
    jwt_secret = _jwt_secret(get("JWT_SECRET_KEY"), data_dir, production)
    master_key = _master_key(get("KPS_MASTER_KEY"), data_dir, production)
    previous = tuple(decode_master_key(k) for k in str(get("KPS_PREVIOUS_MASTER_KEYS", "")).split(",") if k.strip())
    try:
        return Settings(
            env=env,
            host=str(get("KPS_HOST", "127.0.0.1")),
            port=int(get("KPS_PORT", 5000)),
            data_dir=data_dir,
            mongo_uri=get("MONGO_URI"),
            mongo_db=str(get("KPS_MONGO_DB", "keyproxy")),
            jwt_secret_key=jwt_secret,
            master_key=master_key,
            previous_master_keys=previous,
            bcrypt_rounds=int(get("KPS_BCRYPT_ROUNDS", 12)),
            access_token_seconds=int(get("KPS_ACCESS_TOKEN_SECONDS", 900)),
            refresh_token_seconds=int(get("KPS_REFRESH_TOKEN_SECONDS", 7 * 24 * 3600)),
            login_max_failures=int(get("KPS_LOGIN_MAX_FAILURES", 5)),
            login_lockout_seconds=int(get("KPS_LOGIN_LOCKOUT_SECONDS", 900)),
            rate_limit=str(get("KPS_RATE_LIMIT", "30/minute")),
            cors_origins=tuple(o.strip() for o in str(get("KPS_CORS_ORIGINS", "")).split(",") if o.strip()),
            trusted_proxies=int(get("KPS_TRUSTED_PROXIES", 0)),
            bootstrap_admin_email=get("KPS_BOOTSTRAP_ADMIN_EMAIL"),
            bootstrap_admin_password=get("KPS_BOOTSTRAP_ADMIN_PASSWORD"),
            allow_custom_endpoints=(not production) or _truthy(get("KPS_ALLOW_CUSTOM_ENDPOINTS")),
            provider_connect_timeout=float(get("KPS_PROVIDER_CONNECT_TIMEOUT", 2.0)),
            provider_read_timeout=float(get("KPS_PROVIDER_READ_TIMEOUT", 5.0)),
            provider_max_attempts=int(get("KPS_PROVIDER_MAX_ATTEMPTS", 2)),
            cache_ttl_seconds=float(get("KPS_CACHE_TTL_SECONDS", 0)),
            cache_max_entries=int(get("KPS_CACHE_MAX_ENTRIES", 10_000)),
            workers=int(get("KPS_WORKERS", 2)),
            threads=int(get("KPS_THREADS", 8)),
            seed={name: str(source[name]) for name in SEED_VARIABLES if source.get(name)},
        )
    except ValueError as error:
        raise ConfigError(f"invalid setting: {error}") from None


def _generated(data_dir: Path, filename: str, make: callable) -> str:
    """Read a development key from the data dir, generating it (mode 0600) the first time."""
    path = data_dir / filename
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = make()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race; use its key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    log.warning("generated a development key into %s; set it explicitly in production", path)
    return value


def _jwt_secret(value: str | None, data_dir: Path, production: bool) -> str:
    if value is None:
        if production:
            raise ConfigError("JWT_SECRET_KEY is required when KPS_ENV=production")
        return _generated(data_dir, "jwt_secret.key", lambda: std_secrets.token_urlsafe(48))
    if production and len(value.encode()) < MIN_JWT_SECRET_BYTES:
        raise ConfigError(f"JWT_SECRET_KEY must be at least {MIN_JWT_SECRET_BYTES} bytes when KPS_ENV=production")
    return value


def _master_key(value: str | None, data_dir: Path, production: bool) -> bytes:
    if value is None:
        if production:
            raise ConfigError("KPS_MASTER_KEY (32 bytes, base64) is required when KPS_ENV=production")
        value = _generated(data_dir, "master.key", lambda: base64.b64encode(os.urandom(32)).decode())
    try:
        key = decode_master_key(value)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if production and len(set(key)) < 16:
        raise ConfigError("KPS_MASTER_KEY is too weak: generate it with `openssl rand -base64 32`")
    return key

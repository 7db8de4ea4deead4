"""The provider protocol and its error vocabulary.

Every provider (aws, gcp, azure, local) implements ``SecretStore``. Its SDK is
imported only in its own module, and SDK errors become the errors below in that
module's ``_translate`` function, by type or status code, never by message text.
Error messages are fixed, short sentences: never a provider's raw text, a secret
value or a credential.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Protocol


class ProviderError(Exception):
    """Base of every provider failure. ``str()`` is safe to log and to show."""

    default_message = "the secret provider failed"

    def __init__(self, message: str | None = None, *, retry_after: float | None = None):
        super().__init__(message or self.default_message)
        self.retry_after = retry_after


class SecretNotFound(ProviderError):
    default_message = "the secret does not exist in the provider"


class SecretAlreadyExists(ProviderError):
    default_message = "a secret with this name already exists in the provider"


class AccessDenied(ProviderError):
    default_message = "the provider refused the credentials or permission"


class Throttled(ProviderError):
    default_message = "the provider is throttling requests"


class ProviderUnavailable(ProviderError):
    default_message = "the provider is unavailable"


class ProviderTimeout(ProviderError):
    default_message = "the provider did not answer in time"


class BadProviderConfig(ProviderError):
    default_message = "the provider configuration is invalid"


@dataclass(frozen=True)
class TimeBudget:
    """How long one provider call may take, retries included."""

    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    max_attempts: int = 2  # total attempts, first one included


@dataclass(frozen=True)
class SecretVersion:
    value: str = field(repr=False)
    version_id: str
    created_at: datetime | None = None

    def __repr__(self) -> str:
        return f"SecretVersion(value='***', version_id={self.version_id!r})"


@dataclass(frozen=True)
class ProviderContext:
    """Everything a provider factory may use to build its client."""

    settings: Mapping[str, Any]              # validated, non-secret settings (region, ...)
    credentials: Mapping[str, Any] | None    # decrypted credentials from the admin, or None
    seed: Mapping[str, str]                  # seed env vars: AWS_ACCESS_KEY, GCP_CREDENTIALS_JSON, AZURE_*
    budget: TimeBudget = TimeBudget()
    db: Any = None                           # pymongo Database (local provider only)
    keyring: Any = None                      # kms.crypto.Keyring (local provider only)
    org_id: str = "default"

    def __repr__(self) -> str:
        return f"ProviderContext(settings={dict(self.settings)!r}, credentials=***)"


class SecretStore(Protocol):
    """One provider. ``object_name`` is the opaque provider-side name the secrets
    service derives from the reference id (``kps-<hex>``, valid on every cloud)."""

    name: str

    def create(self, object_name: str, value: str, labels: Mapping[str, str]) -> str:
        """Create the secret with its first version; return that version's provider id.
        Raises SecretAlreadyExists if the object exists."""

    def add_version(self, object_name: str, value: str) -> str:
        """Add a new latest version; return its provider id. SecretNotFound if absent."""

    def read(self, object_name: str, version_id: str | None = None) -> SecretVersion:
        """The latest version, or the one with ``version_id``. SecretNotFound if absent."""

    def list_versions(self, object_name: str) -> list[str]:
        """Provider ids of every version still held, oldest first. SecretNotFound if absent."""

    def delete(self, object_name: str) -> None:
        """Delete the secret and all versions. SecretNotFound if absent."""

    def check(self) -> None:
        """Prove reachability and permission; raise a ProviderError otherwise."""


class BatchReader(Protocol):
    """Optional: a store that reads several secrets in one provider call."""

    batch_size: int  # most objects per call

    def read_many(self, wanted: Mapping[str, str]) -> dict[str, SecretVersion | ProviderError]:
        """For each object name, its version with the given provider id, or the error
        ``read(name, version_id)`` would raise."""

"""Azure Key Vault, through azure-keyvault-secrets and azure-identity.

One ``SecretClient`` is built per store, with the budget's timeouts and a retry
policy bounded by it. Key Vault has no create-only call: ``set_secret`` on an
existing name adds a version, and on a soft-deleted name fails with a conflict.
So ``create`` and ``add_version`` look first (object names are unique per
KeyProxy secret, so nothing races the look). Key Vault lists versions in no
useful order and dates them to the second, so each version KeyProxy writes
carries a sequence tag to order versions made within one second. Deleting does
not wait for the service's deletion poller (it sleeps 2 s per poll) unless
``purge_on_delete`` is set. Every SDK error becomes a provider error in
``_translate``, by type or status code.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import urlsplit

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.policies import RetryPolicy
from azure.identity import ClientSecretCredential, DefaultAzureCredential
from azure.keyvault.secrets import SecretClient

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
    TimeBudget,
    Throttled,
)

log = logging.getLogger(__name__)

# Hosts whose bearer challenge must name Key Vault's own resource; for any other
# host (an emulator) the challenge's resource is not checked against it.
_VAULT_SUFFIXES = (".vault.azure.net", ".vault.azure.cn", ".vault.usgovcloudapi.net",
                   ".vault.microsoftazure.de")
SEQUENCE_TAG = "kps-version-seq"
_MAX_TAGS = 15  # Key Vault's limit per version, the sequence tag included
_VERSION_ID = re.compile(r"[0-9A-Za-z]{1,64}")
# A server asking for a longer pause than this is throttling: the caller is told
# (with Retry-After) rather than a worker sleeping through it.
_MAX_RETRY_AFTER_SECONDS = 1.0
_EPOCH = datetime.fromtimestamp(0, timezone.utc)

_SDK_ERRORS = (AzureError, ValueError)  # ValueError: a challenge that does not fit the vault


class _BudgetRetryPolicy(RetryPolicy):
    """azure-core's retry policy, except that it does not sleep through a long
    Retry-After (azure-core retries any status that carries one)."""

    def is_retry(self, settings, response) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after is not None and retry_after > _MAX_RETRY_AFTER_SECONDS:
            return False
        return super().is_retry(settings, response)


class AzureSecretStore:
    name = "azure"

    def __init__(self, client: SecretClient, *, vault_url: str, purge_on_delete: bool,
                 budget: TimeBudget):
        self._client = client
        self.vault_url = vault_url
        self.purge_on_delete = purge_on_delete
        self._budget = budget

    def __repr__(self) -> str:
        return (f"AzureSecretStore(vault_url={self.vault_url!r}, "
                f"purge_on_delete={self.purge_on_delete})")

    def create(self, object_name: str, value: str, labels: Mapping[str, str]) -> str:
        if self._latest(object_name) is not None:
            raise SecretAlreadyExists()
        tags = azure_tags(labels)
        tags[SEQUENCE_TAG] = "1"
        try:
            # A soft-deleted name answers 409 (ObjectIsDeletedButRecoverable): still taken.
            secret = self._client.set_secret(object_name, value, tags=tags)
        except _SDK_ERRORS as exc:
            raise _translate(exc) from None
        return secret.properties.version

    def add_version(self, object_name: str, value: str) -> str:
        latest = self._latest(object_name)
        if latest is None:
            raise SecretNotFound()
        # Tags belong to versions in Key Vault: carry the labels to the new one.
        tags = dict(latest.properties.tags or {})
        tags[SEQUENCE_TAG] = str(_sequence(latest.properties) + 1)
        try:
            secret = self._client.set_secret(object_name, value, tags=tags)
        except ResourceExistsError:
            raise SecretNotFound() from None  # deleted since the look: soft-deleted now
        except _SDK_ERRORS as exc:
            raise _translate(exc) from None
        return secret.properties.version

    def read(self, object_name: str, version_id: str | None = None) -> SecretVersion:
        if version_id is not None and not _VERSION_ID.fullmatch(version_id):
            raise SecretNotFound()  # never issued by Key Vault
        try:
            secret = self._client.get_secret(object_name, version_id)
        except _SDK_ERRORS as exc:
            raise _translate(exc) from None
        return SecretVersion(value=secret.value or "", version_id=secret.properties.version,
                             created_at=secret.properties.created_on)

    def list_versions(self, object_name: str) -> list[str]:
        try:
            # The pager fetches further pages while iterated: inside the try.
            versions = list(self._client.list_properties_of_secret_versions(object_name))
        except _SDK_ERRORS as exc:
            raise _translate(exc) from None
        if not versions:
            raise SecretNotFound()  # Key Vault lists an unknown name's versions as empty
        held = [v for v in versions if v.enabled is not False]
        return [v.version for v in sorted(held, key=_age)]

    def delete(self, object_name: str) -> None:
        try:
            poller = self._client.begin_delete_secret(object_name)
        except _SDK_ERRORS as exc:
            raise _translate(exc) from None
        if self.purge_on_delete:
            self._purge(object_name, poller)

    def check(self) -> None:
        try:
            next(iter(self._client.list_properties_of_secrets(max_page_size=1)), None)
        except _SDK_ERRORS as exc:
            raise _translate(exc) from None

    # --- helpers -----------------------------------------------------------

    def _latest(self, object_name: str):
        """The latest version (value included: Key Vault has no cheaper look), or None."""
        try:
            return self._client.get_secret(object_name)
        except ResourceNotFoundError:
            return None
        except _SDK_ERRORS as exc:
            raise _translate(exc) from None

    def _purge(self, object_name: str, poller) -> None:
        """Wait for the deletion, then purge. The secret is already deleted (and
        recoverable) when this runs, so a failure is logged, not raised: the
        caller's delete did happen."""
        try:
            poller.wait(timeout=_deadline(self._budget))
            if not poller.done():
                log.warning("azure key vault had not finished deleting %s; not purged", object_name)
                return
            self._client.purge_deleted_secret(object_name)
        except _SDK_ERRORS as exc:
            log.warning("could not purge deleted secret %s: %s", object_name, _describe(exc))


def azure_tags(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels as Key Vault tags: at most 14 (the sequence tag is the 15th), names
    of at most 512 characters, values of at most 256."""
    tags: dict[str, str] = {}
    for key, value in labels.items():
        if len(tags) == _MAX_TAGS - 1:
            break
        tags[str(key)[:512]] = str(value)[:256]
    return tags


def _deadline(budget: TimeBudget) -> float:
    """How long one call may take with all its attempts."""
    return budget.max_attempts * (budget.connect_timeout + budget.read_timeout)


def _sequence(properties) -> int:
    try:
        return int((properties.tags or {}).get(SEQUENCE_TAG, 0))
    except ValueError:
        return 0


def _age(properties) -> tuple:
    """Oldest first: by creation time (whole seconds), then by sequence tag."""
    return (properties.created_on or _EPOCH, _sequence(properties))


def _translate(exc: Exception) -> ProviderError:
    """The provider error for an SDK error. Never carries the SDK's text."""
    if (isinstance(exc, ClientAuthenticationError)
            and isinstance(exc.__cause__, (ServiceRequestError, ServiceResponseError))):
        exc = exc.__cause__  # azure-identity's wrapping of a token service it could not reach
    error = _classify(exc)
    if not isinstance(error, (SecretNotFound, SecretAlreadyExists)):
        log.warning("azure key vault call failed: %s", _describe(exc))
    return error


def _classify(exc: Exception) -> ProviderError:
    # Timeout types first: they subclass the request / response errors.
    if isinstance(exc, ResourceNotFoundError):
        return SecretNotFound()
    if isinstance(exc, ResourceExistsError):
        return SecretAlreadyExists()
    # azure.identity's CredentialUnavailableError is a ClientAuthenticationError.
    if isinstance(exc, ClientAuthenticationError):
        return AccessDenied()
    if isinstance(exc, (ServiceRequestTimeoutError, ServiceResponseTimeoutError)):
        return ProviderTimeout()
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return ProviderUnavailable()
    if isinstance(exc, HttpResponseError):
        return _by_status(exc)
    if isinstance(exc, ValueError):
        return BadProviderConfig()
    return ProviderError()


def _by_status(exc: HttpResponseError) -> ProviderError:
    status = exc.status_code or 0
    if status == 404:
        return SecretNotFound()
    if status == 409:
        return SecretAlreadyExists()
    if status in (401, 403):
        return AccessDenied()
    if status == 429:
        return Throttled(retry_after=_retry_after(exc))
    if status in (408, 504):
        return ProviderTimeout()
    if status >= 500:
        return ProviderUnavailable()
    if status == 400:
        return BadProviderConfig()
    return ProviderError()


def _retry_after(exc: HttpResponseError) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``x-ms-retry-after-ms`` or
    ``Retry-After`` (seconds; the HTTP-date form is ignored)."""
    headers = exc.response.headers if exc.response is not None else {}
    for name, scale in (("retry-after-ms", 1000.0), ("x-ms-retry-after-ms", 1000.0),
                        ("Retry-After", 1.0)):
        try:
            seconds = float(headers[name]) / scale
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _describe(exc: Exception) -> str:
    """What an operator needs to follow up, without the SDK's message text."""
    status = getattr(exc, "status_code", None)
    code = getattr(getattr(exc, "error", None), "code", None)
    return f"{type(exc).__name__} status={status} code={code}" if status else type(exc).__name__


def build(ctx: ProviderContext) -> AzureSecretStore:
    settings = ctx.settings
    vault_url = _https_url(settings.get("vault_url") or ctx.seed.get("AZURE_VAULT_URL"))
    if vault_url is None:
        raise BadProviderConfig("the Azure provider needs an https vault_url")
    authority_host = settings.get("authority_host") or None
    if authority_host is not None and _https_url(authority_host) is None:
        raise BadProviderConfig("the Azure authority_host must be an https URL")
    purge_on_delete = settings.get("purge_on_delete", False)
    if not isinstance(purge_on_delete, bool):
        raise BadProviderConfig("purge_on_delete must be true or false")

    budget = ctx.budget
    transport = {"connection_timeout": budget.connect_timeout, "read_timeout": budget.read_timeout}
    retries = {"retry_total": max(budget.max_attempts - 1, 0), "retry_backoff_factor": 0.2,
               "retry_backoff_max": 1,
               "timeout": _deadline(budget)}
    credential = _credential(ctx, authority_host, {**transport, **retries})
    host = urlsplit(vault_url).hostname or ""
    try:
        client = SecretClient(
            vault_url, credential,
            verify_challenge_resource=host.lower().endswith(_VAULT_SUFFIXES),
            retry_policy=_BudgetRetryPolicy(**retries), **transport)
    except (ValueError, NotImplementedError):
        raise BadProviderConfig() from None
    return AzureSecretStore(client, vault_url=vault_url, purge_on_delete=purge_on_delete,
                            budget=budget)


def _https_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    return value if parts.scheme == "https" and parts.hostname else None


def _credential(ctx: ProviderContext, authority_host: str | None, pipeline: dict[str, Any]):
    """The admin's service principal, else the seed's, else DefaultAzureCredential
    (environment, workload identity, managed identity, Azure CLI, ...)."""
    if ctx.credentials:
        principal = tuple(ctx.credentials.get(k)
                          for k in ("tenant_id", "client_id", "client_secret"))
    else:
        principal = tuple(ctx.seed.get(k) for k in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID",
                                                    "AZURE_CLIENT_SECRET"))
        if not any(principal):
            return DefaultAzureCredential(
                **({"authority": authority_host} if authority_host else {}))
    if not all(isinstance(part, str) and part for part in principal):
        raise BadProviderConfig(
            "the Azure credentials need a tenant_id, client_id and client_secret")
    if authority_host:
        pipeline = {**pipeline, "authority": authority_host, "disable_instance_discovery": True}
    try:
        return ClientSecretCredential(*principal, **pipeline)
    except ValueError:
        raise BadProviderConfig("the Azure credentials are not valid") from None

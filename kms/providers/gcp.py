"""Google Secret Manager, through google-cloud-secret-manager.

The client always uses the REST transport: it is the one the emulator tests
exercise, it takes an ``(connect, read)`` timeout per attempt, and its TLS trust
follows ``REQUESTS_CA_BUNDLE`` as the contract asks for custom endpoints. The
client is built once per store. Reads are retried on transient errors within the
time budget; writes are not (a retried create that had succeeded would report a
duplicate). The client does not check payload checksums on access, so ``read``
does (CRC32C). Every SDK error becomes a provider error in ``_translate``, by type.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from typing import Any, Mapping

import google.auth
import requests
from google.api_core import exceptions as api
from google.api_core.retry import Retry
from google.auth import exceptions as auth
from google.auth.credentials import AnonymousCredentials
from google.cloud import secretmanager_v1 as secretmanager
from google.oauth2 import service_account

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

_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_PROJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:_-]{0,99}")
_VERSION_ID = re.compile(r"[1-9][0-9]{0,18}")  # Secret Manager numbers versions 1, 2, ...
_LABEL_FORBIDDEN = re.compile(r"[^a-z0-9_-]")
_LABEL_LENGTH = 63
_MAX_LABELS = 64

_SDK_ERRORS = (api.GoogleAPIError, auth.GoogleAuthError, requests.RequestException)
# Worth another attempt on a read: the request did not get through, or the service
# said it could not take it now.
_TRANSIENT = (api.ServiceUnavailable, requests.ConnectionError)


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli), the checksum Secret Manager keeps for each payload."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        for _ in range(8):
            n = (n >> 1) ^ 0x82F63B78 if n & 1 else n >> 1
        table.append(n)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


class GcpSecretStore:
    name = "gcp"

    def __init__(self, client: Any, *, project_id: str, endpoint: str | None,
                 budget: TimeBudget):
        self._client = client
        self.project_id = project_id
        self.endpoint = endpoint
        self._budget = budget
        self._timeout = _PerAttemptTimeout(budget.connect_timeout, budget.read_timeout)

    def __repr__(self) -> str:
        return f"GcpSecretStore(project_id={self.project_id!r}, endpoint={self.endpoint!r})"

    def create(self, object_name: str, value: str, labels: Mapping[str, str]) -> str:
        secret = {"replication": {"automatic": {}}, "labels": gcp_labels(labels)}
        try:
            self._client.create_secret(
                request={"parent": self._project, "secret_id": object_name, "secret": secret},
                **self._once())
        except _SDK_ERRORS as exc:
            raise _translate(exc) from None
        try:
            return self._add(object_name, value)
        except ProviderError:
            self._undo_create(object_name)
            raise

    def add_version(self, object_name: str, value: str) -> str:
        return self._add(object_name, value)

    def read(self, object_name: str, version_id: str | None = None) -> SecretVersion:
        if version_id is not None and not _VERSION_ID.fullmatch(version_id):
            raise SecretNotFound()  # never issued by Secret Manager
        name = f"{self._secret(object_name)}/versions/{version_id or 'latest'}"
        try:
            response = self._client.access_secret_version(request={"name": name},
                                                           **self._with_retries())
        except _SDK_ERRORS as exc:
            raise _translate(exc) from None
        payload = response.payload
        if "data_crc32c" in payload and payload.data_crc32c != crc32c(payload.data):
            log.warning("google secret manager returned a payload failing its checksum: %s",
                        response.name)
            raise ProviderError("the provider returned a corrupted value")
        try:
            value = payload.data.decode("utf-8")
        except UnicodeDecodeError:
            raise ProviderError(
                "the provider holds binary data under this name, not text") from None
        return SecretVersion(value=value, version_id=_last_segment(response.name))

    def list_versions(self, object_name: str) -> list[str]:
        try:
            # The pager fetches further pages while iterated: inside the try.
            versions = list(self._client.list_secret_versions(
                request={"parent": self._secret(object_name)}, **self._with_retries()))
        except _SDK_ERRORS as exc:
            raise _translate(exc) from None
        enabled = secretmanager.SecretVersion.State.ENABLED
        return sorted((_last_segment(v.name) for v in versions if v.state == enabled), key=int)

    def delete(self, object_name: str) -> None:
        try:
            self._client.delete_secret(request={"name": self._secret(object_name)}, **self._once())
        except _SDK_ERRORS as exc:
            raise _translate(exc) from None

    def check(self) -> None:
        try:
            self._client.list_secrets(request={"parent": self._project, "page_size": 1},
                                      **self._with_retries())
        except _SDK_ERRORS as exc:
            raise _translate(exc) from None

    # --- helpers -----------------------------------------------------------

    @property
    def _project(self) -> str:
        return f"projects/{self.project_id}"

    def _secret(self, object_name: str) -> str:
        return f"{self._project}/secrets/{object_name}"

    def _add(self, object_name: str, value: str) -> str:
        data = value.encode("utf-8")
        try:
            version = self._client.add_secret_version(
                request={"parent": self._secret(object_name),
                         "payload": {"data": data, "data_crc32c": crc32c(data)}},
                **self._once())
        except _SDK_ERRORS as exc:
            raise _translate(exc) from None
        return _last_segment(version.name)

    def _undo_create(self, object_name: str) -> None:
        """Remove a secret whose first version could not be added, so a failed create
        leaves nothing behind. The caller raises the original error either way."""
        try:
            self._client.delete_secret(request={"name": self._secret(object_name)}, **self._once())
        except _SDK_ERRORS as exc:
            log.warning("could not remove secret %s after its first version failed: %s",
                        object_name, _describe(exc))

    def _once(self) -> dict[str, Any]:
        return {"timeout": self._timeout, "retry": None}

    def _with_retries(self) -> dict[str, Any]:
        return {"timeout": self._timeout, "retry": _bounded_retry(self._budget)}


class _PerAttemptTimeout:
    """An api_core timeout decorator that gives each HTTP attempt requests'
    ``(connect, read)`` pair; a plain number would also bound connecting by the
    read timeout."""

    def __init__(self, connect: float, read: float):
        self._pair = (connect, read)

    def __call__(self, func):
        @functools.wraps(func)
        def with_timeout(*args, **kwargs):
            kwargs["timeout"] = self._pair
            return func(*args, **kwargs)
        return with_timeout


def _bounded_retry(budget: TimeBudget) -> Retry | None:
    """At most ``max_attempts`` attempts, only after transient errors, within the
    budget. api_core's Retry counts time, not attempts: the predicate counts."""
    retries_left = budget.max_attempts - 1
    if retries_left < 1:
        return None

    def transient(exc: Exception) -> bool:
        nonlocal retries_left
        if not isinstance(exc, _TRANSIENT) or retries_left < 1:
            return False
        retries_left -= 1
        return True

    deadline = budget.max_attempts * (budget.connect_timeout + budget.read_timeout)
    return Retry(predicate=transient, initial=0.1, maximum=1.0, multiplier=2.0,
                 timeout=deadline)


def gcp_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels as Secret Manager accepts them: keys and values of lowercase letters,
    digits, ``_`` and ``-``, at most 63 characters, keys starting with a letter,
    at most 64 labels. Anything else is replaced by ``_``."""
    result: dict[str, str] = {}
    for key, value in labels.items():
        key = _LABEL_FORBIDDEN.sub("_", str(key).lower())
        if not key:
            continue
        if not ("a" <= key[0] <= "z"):
            key = "k" + key
        result[key[:_LABEL_LENGTH]] = _LABEL_FORBIDDEN.sub("_", str(value).lower())[:_LABEL_LENGTH]
        if len(result) == _MAX_LABELS:
            break
    return result


def _last_segment(resource_name: str) -> str:
    return resource_name.rsplit("/", 1)[-1]


def _translate(exc: Exception) -> ProviderError:
    """The provider error for an SDK error. Never carries the SDK's text."""
    if isinstance(exc, api.RetryError) and exc.cause is not None:
        exc = exc.cause  # the budget ran out: the last attempt's error says why
    error = _classify(exc)
    if not isinstance(error, (SecretNotFound, SecretAlreadyExists)):
        log.warning("google secret manager call failed: %s", _describe(exc))
    return error


def _classify(exc: Exception) -> ProviderError:
    # Subclasses first where they overlap: gRPC's AlreadyExists is a Conflict,
    # DeadlineExceeded a GatewayTimeout, ConnectTimeout both a Timeout and a
    # ConnectionError.
    if isinstance(exc, api.NotFound):
        return SecretNotFound()
    if isinstance(exc, api.Conflict):
        return SecretAlreadyExists()
    if isinstance(exc, (api.Unauthorized, api.Forbidden, auth.RefreshError)):
        return AccessDenied()
    if isinstance(exc, api.TooManyRequests):
        return Throttled(retry_after=_retry_after(exc))
    if isinstance(exc, (api.GatewayTimeout, api.RetryError, requests.Timeout, auth.TimeoutError)):
        return ProviderTimeout()
    if isinstance(exc, (api.ServerError, requests.ConnectionError, auth.TransportError)):
        return ProviderUnavailable()
    if isinstance(exc, (api.BadRequest, auth.DefaultCredentialsError)):
        return BadProviderConfig()
    return ProviderError()


def _retry_after(exc: api.GoogleAPICallError) -> float | None:
    """Seconds to wait: Google's RetryInfo detail, else a Retry-After header."""
    for detail in exc.details:
        if isinstance(detail, dict) and detail.get("@type", "").endswith("google.rpc.RetryInfo"):
            return _seconds(detail.get("retryDelay"))
    headers = getattr(exc.response, "headers", None) or {}
    return _seconds(headers.get("Retry-After"))


def _seconds(text: Any) -> float | None:
    """``"30s"`` (a protobuf Duration in JSON) or ``"30"`` as seconds."""
    if not isinstance(text, str):
        return None
    try:
        seconds = float(text.strip().removesuffix("s"))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _describe(exc: Exception) -> str:
    """What an operator needs to follow up, without the SDK's message text."""
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__} status={code}" if isinstance(code, int) else type(exc).__name__


def build(ctx: ProviderContext) -> GcpSecretStore:
    project_id = ctx.settings.get("project_id")
    if not isinstance(project_id, str) or not _PROJECT_ID.fullmatch(project_id):
        raise BadProviderConfig("the GCP provider needs a project_id")
    endpoint = ctx.settings.get("endpoint") or None
    if endpoint is not None and not isinstance(endpoint, str):
        raise BadProviderConfig("the GCP endpoint must be a URL")
    # http:// is an emulator: anonymous credentials. Anything else (https://host, or a
    # bare host such as a regional endpoint) is TLS with real credentials.
    emulator = endpoint is not None and endpoint.startswith("http://")
    credentials = AnonymousCredentials() if emulator else _credentials(ctx)
    try:
        client = secretmanager.SecretManagerServiceClient(
            credentials=credentials, transport="rest",
            client_options={"api_endpoint": endpoint} if endpoint else None)
    except (ValueError, auth.GoogleAuthError):
        raise BadProviderConfig() from None
    return GcpSecretStore(client, project_id=project_id, endpoint=endpoint, budget=ctx.budget)


def _credentials(ctx: ProviderContext):
    """The admin's service account, else the seed's, else Application Default
    Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, the metadata server)."""
    info = ((ctx.credentials or {}).get("service_account_json")
            or ctx.seed.get("GCP_CREDENTIALS_JSON"))
    if not info:
        try:
            credentials, _ = google.auth.default(scopes=_SCOPES)
        except auth.DefaultCredentialsError:
            raise BadProviderConfig("no GCP credentials were given or found") from None
        return credentials
    try:
        if isinstance(info, str):
            info = json.loads(info)
        return service_account.Credentials.from_service_account_info(info, scopes=_SCOPES)
    except (ValueError, TypeError, AttributeError, auth.GoogleAuthError):
        raise BadProviderConfig("the GCP service account JSON is not valid") from None

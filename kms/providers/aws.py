"""AWS Secrets Manager, through boto3.

One client is built per store and reused: botocore clients are thread-safe once
built (building them is not, hence a private session per store rather than boto3's
module-level default session). Every SDK error becomes a provider error in
``_translate``, by error code, HTTP status or exception type.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Mapping

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

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
    Throttled,
)

log = logging.getLogger(__name__)

DEFAULT_RECOVERY_WINDOW_DAYS = 7
_RECOVERY_WINDOW_RANGE = range(7, 31)  # what DeleteSecret accepts; 0 means force
_VERSION_ID_LENGTH = range(32, 65)     # Secrets Manager's VersionId constraint
_BATCH_LIMIT = 20                      # ids per BatchGetSecretValue call
# Parsing the service models is most of the cost of building a client (~0.1 s);
# one loader keeps them parsed for every store this process builds (its cache is
# a plain dict: two builds at once at worst parse twice).
_MODEL_LOADER = botocore.loaders.create_loader()
# Namespace of the idempotency token of a secret's first version, so that
# retrying a create after a lost answer finds the version already made.
_CREATE_TOKEN_NAMESPACE = uuid.UUID("6f0f5a4e-2c3b-4f7e-9a55-6b7370726f78")

_NOT_FOUND_CODES = {"ResourceNotFoundException"}
_EXISTS_CODES = {"ResourceExistsException"}
_DENIED_CODES = {
    "UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch",
    "IncompleteSignature", "InvalidClientTokenId", "MissingAuthenticationToken",
    "ExpiredToken", "ExpiredTokenException",
    # Secrets Manager could not use the KMS key that protects the secret.
    "DecryptionFailure", "EncryptionFailure",
}
# botocore retries all of these as throttling; LimitExceededException is a quota.
_THROTTLED_CODES = {
    "ThrottlingException", "Throttling", "TooManyRequestsException",
    "RequestLimitExceeded", "LimitExceededException",
}
_UNAVAILABLE_CODES = {"InternalServiceError", "InternalFailure", "ServiceUnavailable",
                      "ServiceUnavailableException"}
_BAD_REQUEST_CODES = {"InvalidParameterException", "ValidationException",
                      "MalformedPolicyDocumentException"}
# Secrets Manager's answer to any of our calls on a secret scheduled for deletion.
_SCHEDULED_FOR_DELETION = "InvalidRequestException"

_TIMEOUT_TYPES = (ReadTimeoutError, ConnectTimeoutError)
# EndpointConnectionError, ConnectionClosedError, SSLError, ProxyConnectionError, ...
_UNAVAILABLE_TYPES = (BotoConnectionError, HTTPClientError)
_CONFIG_TYPES = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError,
                 NoRegionError, ProfileNotFound, ParamValidationError)


class AwsSecretStore:
    name = "aws"
    batch_size = _BATCH_LIMIT

    def __init__(self, client: Any, *, region: str, endpoint_url: str | None,
                 recovery_window_days: int):
        self._client = client
        self.region = region
        self.endpoint_url = endpoint_url
        self.recovery_window_days = recovery_window_days
        self._batch_allowed = True  # until IAM refuses BatchGetSecretValue

    def __repr__(self) -> str:
        return (f"AwsSecretStore(region={self.region!r}, endpoint_url={self.endpoint_url!r}, "
                f"recovery_window_days={self.recovery_window_days})")

    def create(self, object_name: str, value: str, labels: Mapping[str, str]) -> str:
        kwargs: dict[str, Any] = {
            "Name": object_name,
            "SecretString": value,
            "ClientRequestToken": str(uuid.uuid5(_CREATE_TOKEN_NAMESPACE, object_name)),
        }
        if labels:
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in labels.items()]
        try:
            response = self._client.create_secret(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            # A name scheduled for deletion is still taken.
            raise _translate(exc, scheduled_for_deletion=SecretAlreadyExists) from None
        return response["VersionId"]

    def add_version(self, object_name: str, value: str) -> str:
        try:
            response = self._client.put_secret_value(
                SecretId=object_name, SecretString=value, ClientRequestToken=str(uuid.uuid4()))
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from None
        return response["VersionId"]

    def read(self, object_name: str, version_id: str | None = None) -> SecretVersion:
        kwargs = {"SecretId": object_name}
        if version_id is not None:
            if len(version_id) not in _VERSION_ID_LENGTH:
                raise SecretNotFound()  # never issued by Secrets Manager
            kwargs["VersionId"] = version_id
        try:
            response = self._client.get_secret_value(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from None
        if "SecretString" not in response:
            raise ProviderError("the provider holds binary data under this name, not text")
        return SecretVersion(value=response["SecretString"], version_id=response["VersionId"],
                             created_at=response.get("CreatedDate"))

    def read_many(self, wanted: Mapping[str, str]) -> dict[str, SecretVersion | ProviderError]:
        """Up to 20 secrets' given versions in one BatchGetSecretValue call.

        The batch returns each secret's current version. A secret it did not return
        (an error for that one secret) or whose current version is not the one wanted
        (changed since the reference was read) is read on its own by version id, so
        every result is what ``read`` would give. If IAM allows GetSecretValue but
        not BatchGetSecretValue, this store reads one by one from then on.
        """
        found: dict[str, SecretVersion] = {}
        if self._batch_allowed:
            try:
                response = self._client.batch_get_secret_value(SecretIdList=list(wanted))
            except (BotoCoreError, ClientError) as exc:
                error = _translate(exc)
                if not isinstance(error, AccessDenied):
                    return dict.fromkeys(wanted, error)
                self._batch_allowed = False
            else:
                for item in response.get("SecretValues", ()):
                    name = item.get("Name")
                    if name in wanted and item.get("VersionId") == wanted[name] and "SecretString" in item:
                        found[name] = SecretVersion(value=item["SecretString"], version_id=item["VersionId"],
                                                    created_at=item.get("CreatedDate"))
        results: dict[str, SecretVersion | ProviderError] = {}
        for name, version_id in wanted.items():
            try:
                results[name] = found[name] if name in found else self.read(name, version_id)
            except ProviderError as error:
                results[name] = error
        return results

    def list_versions(self, object_name: str) -> list[str]:
        versions: list[dict] = []
        page = {"SecretId": object_name, "IncludeDeprecated": True}
        try:
            # Versions stay listable during the recovery window; read() says the
            # secret is gone by then, so this says so too.
            self._require_live(object_name)
            while True:  # botocore has no paginator for this call
                response = self._client.list_secret_version_ids(**page)
                versions += response["Versions"]
                if not response.get("NextToken"):
                    break
                page["NextToken"] = response["NextToken"]
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from None
        return [v["VersionId"] for v in sorted(versions, key=_age_order)]

    def delete(self, object_name: str) -> None:
        try:
            if self.recovery_window_days == 0:
                # A forced delete of a name that does not exist succeeds: look first.
                self._require_live(object_name)
                self._client.delete_secret(SecretId=object_name,
                                           ForceDeleteWithoutRecovery=True)
            else:
                self._client.delete_secret(SecretId=object_name,
                                           RecoveryWindowInDays=self.recovery_window_days)
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from None

    def _require_live(self, object_name: str) -> None:
        """SecretNotFound unless the secret exists outside its recovery window."""
        if "DeletedDate" in self._client.describe_secret(SecretId=object_name):
            raise SecretNotFound()

    def check(self) -> None:
        try:
            self._client.list_secrets(MaxResults=1)
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from None


def _age_order(version: Mapping[str, Any]) -> tuple:
    """Oldest first. Dates can tie (moto keeps whole seconds): then AWSPREVIOUS
    comes before AWSCURRENT, and equal keys keep the provider's order."""
    stages = version.get("VersionStages") or ()
    rank = 2 if "AWSCURRENT" in stages else 1 if "AWSPREVIOUS" in stages else 0
    return (version["CreatedDate"], rank)


def _translate(exc: Exception, *,
               scheduled_for_deletion: type[ProviderError] = SecretNotFound) -> ProviderError:
    """The provider error for an SDK error. Never carries the SDK's text.

    ``scheduled_for_deletion`` is what Secrets Manager's InvalidRequestException means
    for the call at hand: for our five calls it is only ever sent about a secret in
    its recovery window, which is gone for reads and still taken for creates."""
    if isinstance(exc, ClientError):
        error = _client_error(exc, scheduled_for_deletion)
    elif isinstance(exc, _TIMEOUT_TYPES):  # first: they are connection errors too
        error = ProviderTimeout()
    elif isinstance(exc, _UNAVAILABLE_TYPES):
        error = ProviderUnavailable()
    elif isinstance(exc, _CONFIG_TYPES):
        error = BadProviderConfig()
    else:
        error = ProviderError()
    if not isinstance(error, (SecretNotFound, SecretAlreadyExists)):
        log.warning("aws secrets manager call failed: %s", _describe(exc))
    return error


def _client_error(exc: ClientError, scheduled_for_deletion: type[ProviderError]) -> ProviderError:
    code = _error_code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _NOT_FOUND_CODES:
        return SecretNotFound()
    if code in _EXISTS_CODES:
        return SecretAlreadyExists()
    if code == _SCHEDULED_FOR_DELETION:
        return scheduled_for_deletion()
    if code in _DENIED_CODES or code.startswith("AccessDenied") or status in (401, 403):
        return AccessDenied()
    if code in _THROTTLED_CODES or status == 429:
        return Throttled(retry_after=_retry_after(exc))
    if code in _UNAVAILABLE_CODES or (status is not None and status >= 500):
        return ProviderUnavailable()
    if code in _BAD_REQUEST_CODES:
        return BadProviderConfig()
    return ProviderError()


def _error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code") or ""


def _retry_after(exc: ClientError) -> float | None:
    """Seconds to wait, from ``x-amz-retry-after`` (milliseconds) or ``Retry-After``
    (seconds; the HTTP-date form is ignored)."""
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    for name, scale in (("x-amz-retry-after", 1000.0), ("retry-after", 1.0)):
        try:
            seconds = float(headers[name]) / scale
        except (KeyError, TypeError, ValueError):
            continue
        if seconds >= 0:
            return seconds
    return None


def _describe(exc: Exception) -> str:
    """What an operator needs to follow up, without the SDK's message text (which
    may echo parameters)."""
    if isinstance(exc, ClientError):
        meta = exc.response.get("ResponseMetadata", {})
        return (f"{exc.operation_name} {_error_code(exc) or 'unknown error'} "
                f"status={meta.get('HTTPStatusCode')} request_id={meta.get('RequestId')}")
    return type(exc).__name__


def build(ctx: ProviderContext) -> AwsSecretStore:
    settings = ctx.settings
    region = settings.get("region")
    if not isinstance(region, str) or not region:
        raise BadProviderConfig("the AWS provider needs a region")
    endpoint_url = settings.get("endpoint_url") or None
    recovery = settings.get("recovery_window_days", DEFAULT_RECOVERY_WINDOW_DAYS)
    if (not isinstance(recovery, int) or isinstance(recovery, bool)
            or (recovery != 0 and recovery not in _RECOVERY_WINDOW_RANGE)):
        raise BadProviderConfig("recovery_window_days must be 0 or between 7 and 30")
    budget = ctx.budget
    config = Config(
        connect_timeout=budget.connect_timeout,
        read_timeout=budget.read_timeout,
        retries={"total_max_attempts": budget.max_attempts, "mode": "standard"},
        max_pool_connections=32,
    )
    try:
        core = botocore.session.get_session()
        core.register_component("data_loader", _MODEL_LOADER)
        session = boto3.session.Session(botocore_session=core, region_name=region,
                                        **_credentials(ctx))
        client = session.client("secretsmanager", endpoint_url=endpoint_url, config=config)
    except (BotoCoreError, ValueError):
        raise BadProviderConfig() from None
    return AwsSecretStore(client, region=region, endpoint_url=endpoint_url,
                          recovery_window_days=recovery)


def _credentials(ctx: ProviderContext) -> dict[str, str]:
    """The admin's credentials, else the seed's, else none: boto3's default chain
    (environment, shared files, container or instance role)."""
    if ctx.credentials:
        key = ctx.credentials.get("access_key_id")
        secret = ctx.credentials.get("secret_access_key")
        token = ctx.credentials.get("session_token")
    elif ctx.seed.get("AWS_ACCESS_KEY") or ctx.seed.get("AWS_SECRET_KEY"):
        key, secret, token = ctx.seed.get("AWS_ACCESS_KEY"), ctx.seed.get("AWS_SECRET_KEY"), None
    else:
        return {}
    if not key or not secret:
        raise BadProviderConfig("the AWS credentials need an access key id and a secret key")
    creds = {"aws_access_key_id": key, "aws_secret_access_key": secret}
    if token:
        creds["aws_session_token"] = token
    return creds

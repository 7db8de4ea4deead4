"""AWS Secrets Manager specifics: what lands in Secrets Manager (seen through a
separate plain boto3 client), and how transport and service failures surface.
Failures come from small loopback servers that misbehave on purpose."""

from __future__ import annotations

import json
import socket
import threading
import time
import traceback
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    ReadTimeoutError,
)

from kms.providers import aws
from kms.providers.base import (
    AccessDenied,
    BadProviderConfig,
    ProviderContext,
    ProviderTimeout,
    ProviderUnavailable,
    SecretAlreadyExists,
    SecretNotFound,
    Throttled,
    TimeBudget,
)
from tests.fixtures.aws import TEST_CREDENTIALS, TEST_REGION, aws_context
from tests.providers.support import new_name

ONE_QUICK_ATTEMPT = TimeBudget(connect_timeout=0.5, read_timeout=0.5, max_attempts=1)


@pytest.fixture
def observer(aws_endpoint):
    """A plain boto3 client on the same moto server: an independent view of AWS."""
    return boto3.session.Session(
        aws_access_key_id="observer", aws_secret_access_key="observer", region_name=TEST_REGION,
    ).client("secretsmanager", endpoint_url=aws_endpoint)


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass


class LoopbackServer:
    """A threaded HTTP server on a free loopback port, serving ``handler``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


class CannedAws(LoopbackServer):
    """A loopback HTTP server answering every request with one AWS JSON-protocol
    response, and keeping the headers of each request it received."""

    def __init__(self, status: int, error_type: str, headers: dict[str, str] | None = None,
                 message: str = "canned"):
        self.requests: list[dict[str, str]] = []
        body = json.dumps({"__type": error_type, "message": message}).encode()
        extra = {"x-amzn-ErrorType": error_type, **(headers or {})}
        received = self.requests

        class Handler(QuietHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)


@pytest.fixture
def canned_aws(aws_isolated_env):
    servers: list[CannedAws] = []

    def start(status: int, error_type: str, headers: dict[str, str] | None = None,
              message: str = "canned") -> CannedAws:
        servers.append(CannedAws(status, error_type, headers, message))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def silent_endpoint(aws_isolated_env):
    """Accepts connections (the kernel completes the handshake) and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield "http://127.0.0.1:%d" % listener.getsockname()[1]
    listener.close()


@pytest.fixture
def closed_endpoint(aws_isolated_env):
    """A loopback port nobody listens on: connections are refused."""
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"


# --- what lands in Secrets Manager -------------------------------------------------

def test_created_value_is_stored_in_secrets_manager(aws_store, observer):
    name = new_name()
    version_id = aws_store.create(name, "the value", {"owner": "user-1"})

    stored = observer.get_secret_value(SecretId=name)

    assert (stored["SecretString"], stored["VersionId"]) == ("the value", version_id)


def test_added_version_is_current_in_secrets_manager(aws_store, observer):
    name = new_name()
    aws_store.create(name, "first", {})
    version_id = aws_store.add_version(name, "second")

    stored = observer.get_secret_value(SecretId=name)

    assert (stored["SecretString"], stored["VersionId"]) == ("second", version_id)


def test_labels_become_tags(aws_store, observer):
    name = new_name()
    aws_store.create(name, "v", {"owner": "user-1", "ref": "ref-9"})

    tags = observer.describe_secret(SecretId=name)["Tags"]

    assert {t["Key"]: t["Value"] for t in tags} == {"owner": "user-1", "ref": "ref-9"}


def test_retried_create_with_the_same_value_returns_the_first_version(aws_store, observer):
    # The idempotency token derives from the name: a retry after a lost answer is a no-op.
    name = new_name()
    first = aws_store.create(name, "v", {})

    again = aws_store.create(name, "v", {})

    versions = observer.list_secret_version_ids(SecretId=name)["Versions"]
    assert again == first and [v["VersionId"] for v in versions] == [first]


def test_zero_recovery_window_deletes_at_once(aws_store, observer):
    name = new_name()
    aws_store.create(name, "v", {})

    aws_store.delete(name)

    with pytest.raises(ClientError) as caught:
        observer.describe_secret(SecretId=name)
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_recovery_window_schedules_deletion(aws_endpoint, observer):
    store = aws.build(aws_context(aws_endpoint, recovery_window_days=7))
    name = new_name()
    store.create(name, "v", {})

    store.delete(name)

    assert "DeletedDate" in observer.describe_secret(SecretId=name)


def test_secret_in_its_recovery_window_reads_as_not_found(aws_endpoint):
    store = aws.build(aws_context(aws_endpoint, recovery_window_days=7))
    name = new_name()
    store.create(name, "v", {})
    store.delete(name)

    with pytest.raises(SecretNotFound):
        store.read(name)


def test_secret_in_its_recovery_window_lists_as_not_found(aws_endpoint):
    store = aws.build(aws_context(aws_endpoint, recovery_window_days=7))
    name = new_name()
    store.create(name, "v", {})
    store.delete(name)

    with pytest.raises(SecretNotFound):
        store.list_versions(name)


def test_create_on_a_name_in_its_recovery_window_raises_already_exists(canned_aws):
    # AWS answers InvalidRequestException here (moto does not, so a canned answer).
    server = canned_aws(400, "InvalidRequestException")
    store = aws.build(aws_context(server.url, budget=ONE_QUICK_ATTEMPT))

    with pytest.raises(SecretAlreadyExists):
        store.create(new_name(), "v", {})


# --- failures ----------------------------------------------------------------------

def test_unreachable_endpoint_raises_provider_unavailable_quickly(closed_endpoint):
    store = aws.build(aws_context(closed_endpoint, budget=TimeBudget(
        connect_timeout=0.5, read_timeout=0.5, max_attempts=2)))
    started = time.monotonic()

    with pytest.raises(ProviderUnavailable):
        store.read(new_name())

    assert time.monotonic() - started < 3


def test_silent_endpoint_raises_provider_timeout(silent_endpoint):
    store = aws.build(aws_context(silent_endpoint, budget=ONE_QUICK_ATTEMPT))
    started = time.monotonic()

    with pytest.raises(ProviderTimeout):
        store.read(new_name())

    assert time.monotonic() - started < 3


@pytest.mark.parametrize("headers, expected", [
    ({"Retry-After": "7"}, 7.0),
    ({"x-amz-retry-after": "1500"}, 1.5),
    ({}, None),
], ids=["retry-after-seconds", "x-amz-retry-after-ms", "no-hint"])
def test_throttling_raises_throttled_with_the_servers_retry_hint(canned_aws, headers, expected):
    server = canned_aws(400, "ThrottlingException", headers)
    store = aws.build(aws_context(server.url, budget=ONE_QUICK_ATTEMPT))

    with pytest.raises(Throttled) as caught:
        store.read(new_name())

    assert caught.value.retry_after == expected


def test_throttled_calls_are_retried_up_to_max_attempts(canned_aws):
    server = canned_aws(400, "ThrottlingException")
    store = aws.build(aws_context(server.url, budget=TimeBudget(
        connect_timeout=0.5, read_timeout=0.5, max_attempts=2)))

    with pytest.raises(Throttled):
        store.read(new_name())

    assert len(server.requests) == 2


def test_http_429_raises_throttled(canned_aws):
    server = canned_aws(429, "SomethingNew")
    store = aws.build(aws_context(server.url, budget=ONE_QUICK_ATTEMPT))

    with pytest.raises(Throttled):
        store.read(new_name())


@pytest.mark.parametrize("status, error_type", [
    (500, "InternalServiceError"),
    (503, "ServiceUnavailable"),
], ids=["internal-error", "unavailable"])
def test_server_error_raises_provider_unavailable(canned_aws, status, error_type):
    server = canned_aws(status, error_type)
    store = aws.build(aws_context(server.url, budget=ONE_QUICK_ATTEMPT))

    with pytest.raises(ProviderUnavailable):
        store.read(new_name())


@pytest.mark.parametrize("error_type", [
    "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
    "ExpiredTokenException",
])
def test_refused_credentials_or_permission_raise_access_denied(canned_aws, error_type):
    server = canned_aws(400, error_type)
    store = aws.build(aws_context(server.url, budget=ONE_QUICK_ATTEMPT))

    with pytest.raises(AccessDenied):
        store.check()


def test_invalid_parameter_raises_bad_provider_config(canned_aws):
    server = canned_aws(400, "InvalidParameterException")
    store = aws.build(aws_context(server.url, budget=ONE_QUICK_ATTEMPT))

    with pytest.raises(BadProviderConfig):
        store.create(new_name(), "v", {})


def test_provider_message_text_never_reaches_the_error(canned_aws):
    server = canned_aws(400, "AccessDeniedException", message="arn:aws:iam::123:user/SENTINEL")
    store = aws.build(aws_context(server.url, budget=ONE_QUICK_ATTEMPT))

    with pytest.raises(AccessDenied) as caught:
        store.check()

    text = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
    assert "SENTINEL" not in text and str(caught.value) == AccessDenied.default_message


@pytest.mark.parametrize("sdk_error, expected", [
    (ConnectTimeoutError(endpoint_url="https://x"), ProviderTimeout),
    (ReadTimeoutError(endpoint_url="https://x"), ProviderTimeout),
    (EndpointConnectionError(endpoint_url="https://x"), ProviderUnavailable),
    (ConnectionClosedError(endpoint_url="https://x"), ProviderUnavailable),
    (NoCredentialsError(), BadProviderConfig),
    (NoRegionError(), BadProviderConfig),
    (ParamValidationError(report="SecretString: value"), BadProviderConfig),
], ids=lambda case: type(case).__name__)
def test_sdk_exception_types_map_to_provider_errors(sdk_error, expected):
    # Cases a loopback transport cannot stage (a connect timeout needs a lossy network).
    assert type(aws._translate(sdk_error)) is expected


# --- credentials and settings ------------------------------------------------------

def test_missing_credentials_raise_bad_provider_config(closed_endpoint):
    # aws_isolated_env leaves boto3's default chain with nothing to find.
    store = aws.build(aws_context(closed_endpoint, credentials=None))

    with pytest.raises(BadProviderConfig):
        store.check()


def _signing_key_id(request_headers: dict[str, str]) -> str:
    authorization = request_headers["Authorization"]
    return authorization.split("Credential=", 1)[1].split("/", 1)[0]


def test_seed_credentials_sign_requests_when_the_admin_gave_none(canned_aws):
    server = canned_aws(400, "AccessDeniedException")
    store = aws.build(aws_context(server.url, budget=ONE_QUICK_ATTEMPT, credentials=None,
                                  seed={"AWS_ACCESS_KEY": "SEEDKEY", "AWS_SECRET_KEY": "s"}))

    with pytest.raises(AccessDenied):
        store.check()

    assert _signing_key_id(server.requests[0]) == "SEEDKEY"


def test_admin_credentials_take_precedence_over_seed(canned_aws):
    server = canned_aws(400, "AccessDeniedException")
    store = aws.build(aws_context(
        server.url, budget=ONE_QUICK_ATTEMPT,
        credentials={"access_key_id": "ADMINKEY", "secret_access_key": "s"},
        seed={"AWS_ACCESS_KEY": "SEEDKEY", "AWS_SECRET_KEY": "s"}))

    with pytest.raises(AccessDenied):
        store.check()

    assert _signing_key_id(server.requests[0]) == "ADMINKEY"


@pytest.mark.parametrize("credentials, seed", [
    ({"access_key_id": "AKID"}, {}),
    (None, {"AWS_SECRET_KEY": "s"}),
], ids=["admin-without-secret", "seed-without-key"])
def test_partial_credentials_are_bad_provider_config(credentials, seed):
    with pytest.raises(BadProviderConfig):
        aws.build(aws_context("http://127.0.0.1:1", credentials=credentials, seed=seed))


def test_build_without_region_is_bad_provider_config():
    ctx = ProviderContext(settings={}, credentials=TEST_CREDENTIALS, seed={})

    with pytest.raises(BadProviderConfig):
        aws.build(ctx)


@pytest.mark.parametrize("days", [1, 6, 31, -1, "7", True])
def test_recovery_window_outside_what_aws_accepts_is_bad_provider_config(days):
    with pytest.raises(BadProviderConfig):
        aws.build(aws_context("http://127.0.0.1:1", recovery_window_days=days))


def test_store_repr_shows_no_credentials():
    store = aws.build(aws_context("http://127.0.0.1:1", credentials={
        "access_key_id": "AKIDREPRCHECK", "secret_access_key": "SECRETREPRCHECK",
        "session_token": "TOKENREPRCHECK"}))

    shown = repr(store) + str(store)

    assert not any(s in shown for s in ("AKIDREPRCHECK", "SECRETREPRCHECK", "TOKENREPRCHECK"))


# --- reading many at once (BatchGetSecretValue) -----------------------------------

class GatedAws(LoopbackServer):
    """Forwards every call to moto, recording each operation (X-Amz-Target); the
    operations in ``refuse`` get AccessDeniedException, as an IAM policy without
    them would answer."""

    def __init__(self, upstream: str, refuse: set[str] = frozenset()):
        self.operations: list[str] = []
        operations = self.operations

        class Handler(QuietHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                operations.append(operation)
                if operation in refuse:
                    status, headers = 400, {"Content-Type": "application/x-amz-json-1.1"}
                    reply = json.dumps({"__type": "AccessDeniedException", "message": "denied"}).encode()
                else:
                    forward = urllib.request.Request(upstream + self.path, data=body, method="POST",
                                                     headers={k: v for k, v in self.headers.items()
                                                              if k.lower() != "host"})
                    try:
                        with urllib.request.urlopen(forward, timeout=5) as answer:
                            status, headers, reply = answer.status, dict(answer.headers), answer.read()
                    except urllib.error.HTTPError as error:
                        status, headers, reply = error.code, dict(error.headers), error.read()
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        super().__init__(Handler)


@pytest.fixture
def gated_aws(aws_endpoint):
    gates: list[GatedAws] = []

    def start(refuse: set[str] = frozenset()) -> tuple[GatedAws, aws.AwsSecretStore]:
        gates.append(GatedAws(aws_endpoint, refuse))
        return gates[-1], aws.build(aws_context(gates[-1].url, budget=ONE_QUICK_ATTEMPT))

    yield start
    for gate in gates:
        gate.close()


def test_read_many_reads_twenty_secrets_in_one_call(aws_store, gated_aws):
    made = {new_name(): f"value {i}" for i in range(aws.AwsSecretStore.batch_size)}
    versions = {name: aws_store.create(name, value, {}) for name, value in made.items()}
    gate, store = gated_aws()

    read = store.read_many(versions)

    assert {name: (r.value, r.version_id) for name, r in read.items()} == {
        name: (made[name], versions[name]) for name in made}
    assert gate.operations == ["BatchGetSecretValue"]


def test_read_many_reads_a_secret_changed_since_by_the_version_asked_for(aws_store, observer, gated_aws):
    name, unchanged = new_name(), new_name()
    first = aws_store.create(name, "known to KeyProxy", {})
    other = aws_store.create(unchanged, "still current", {})
    observer.put_secret_value(SecretId=name, SecretString="written around KeyProxy")
    gate, store = gated_aws()

    read = store.read_many({name: first, unchanged: other})

    assert (read[name].value, read[name].version_id) == ("known to KeyProxy", first)
    assert read[unchanged].value == "still current"
    assert gate.operations == ["BatchGetSecretValue", "GetSecretValue"]


def test_read_many_gives_each_missing_secret_its_own_error(aws_store, gated_aws):
    present, missing = new_name(), new_name()
    version = aws_store.create(present, "here", {})
    _, store = gated_aws()

    read = store.read_many({present: version, missing: "a" * 32})

    assert read[present].value == "here" and isinstance(read[missing], SecretNotFound)


def test_without_permission_for_the_batch_call_secrets_are_read_one_by_one(aws_store, gated_aws):
    names = [new_name(), new_name()]
    versions = {name: aws_store.create(name, name.upper(), {}) for name in names}
    gate, store = gated_aws(refuse={"BatchGetSecretValue"})

    first, second = store.read_many(versions), store.read_many(versions)

    assert {n: r.value for n, r in first.items()} == {n: r.value for n, r in second.items()} == {
        n: n.upper() for n in names}
    assert gate.operations == ["BatchGetSecretValue", "GetSecretValue", "GetSecretValue",
                               "GetSecretValue", "GetSecretValue"]  # the refusal is remembered


def test_a_throttled_batch_fails_each_secret_without_a_call_per_secret(canned_aws):
    server = canned_aws(400, "ThrottlingException")
    store = aws.build(aws_context(server.url, budget=ONE_QUICK_ATTEMPT))

    read = store.read_many({new_name(): "a" * 32, new_name(): "b" * 32})

    assert all(isinstance(r, Throttled) for r in read.values()) and len(server.requests) == 1

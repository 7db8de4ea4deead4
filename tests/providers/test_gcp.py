"""Google Secret Manager specifics: what lands in the fake Secret Manager (over
the real client's REST transport), checksums both ways, and how service and
transport failures surface. The generic behaviour is in test_contract.py."""

from __future__ import annotations

import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kms.providers.base import (
    AccessDenied,
    BadProviderConfig,
    ProviderContext,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    Throttled,
)
from kms.providers.gcp import GcpSecretStore, build, crc32c
from tests.providers.support import ONE_QUICK_ATTEMPT, closed_port, new_name


# --- what is stored ----------------------------------------------------------

def test_create_stores_the_value_as_version_1(gcp_store, gcp_fake):
    name = new_name()

    version_id = gcp_store.create(name, "pässwörd", {})

    assert version_id == "1"
    assert gcp_fake.secrets[name].versions["1"].data == "pässwörd".encode("utf-8")


def test_create_labels_the_secret_within_gcp_label_rules(gcp_store, gcp_fake):
    name = new_name()

    gcp_store.create(name, "v", {"Owner": "Alice@Example.com", "9lives": "x" * 80})

    assert gcp_fake.secrets[name].labels == {"owner": "alice_example_com", "k9lives": "x" * 63}


def test_every_version_is_sent_with_its_checksum(gcp_store, gcp_fake):
    name = new_name()
    gcp_store.create(name, "first", {})
    gcp_store.add_version(name, "second")

    assert [v.client_checksum for v in gcp_fake.secrets[name].versions.values()] == [True, True]


def test_create_removes_the_secret_when_its_first_version_fails(gcp_store, gcp_fake):
    name = new_name()
    gcp_fake.fail_next(503, on=":addVersion")

    with pytest.raises(ProviderUnavailable):
        gcp_store.create(name, "value", {})

    assert name not in gcp_fake.secrets


def test_read_refuses_a_value_failing_its_checksum(gcp_store, gcp_fake):
    name = new_name()
    gcp_store.create(name, "value", {})
    gcp_fake.corrupt(name)

    with pytest.raises(ProviderError, match="^the provider returned a corrupted value$"):
        gcp_store.read(name)


def test_crc32c_matches_the_castagnoli_check_values():
    assert crc32c(b"") == 0
    assert crc32c(b"123456789") == 0xE3069283


def test_list_versions_orders_version_numbers_numerically(gcp_store):
    name = new_name()
    gcp_store.create(name, "1", {})
    for n in range(2, 12):
        gcp_store.add_version(name, str(n))

    assert gcp_store.list_versions(name) == [str(n) for n in range(1, 12)]


# --- failures ----------------------------------------------------------------

def test_one_unavailable_answer_to_a_read_is_retried_within_the_budget(gcp_store, gcp_fake):
    name = new_name()
    gcp_store.create(name, "value", {})
    gcp_fake.fail_next(503)

    assert gcp_store.read(name).value == "value"


def test_writes_are_not_retried(gcp_store, gcp_fake):
    name = new_name()
    gcp_store.create(name, "value", {})
    gcp_fake.fail_next(503, on=":addVersion")

    with pytest.raises(ProviderUnavailable):
        gcp_store.add_version(name, "second")

    add_version = f"POST /v1/projects/{gcp_fake.project}/secrets/{name}:addVersion"
    assert gcp_fake.requests.count(add_version) == 2  # create's, then ours: once


def test_unavailable_provider_is_provider_unavailable_with_a_fixed_message(gcp_store, gcp_fake):
    gcp_fake.fail_next(503, times=2)

    with pytest.raises(ProviderUnavailable) as caught:
        gcp_store.read(new_name())

    assert str(caught.value) == ProviderUnavailable.default_message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_throttling_is_throttled_with_googles_retry_delay(gcp_store, gcp_fake):
    gcp_fake.fail_next(429, retry_after=7)

    with pytest.raises(Throttled) as caught:
        gcp_store.check()

    assert caught.value.retry_after == 7


def test_permission_denied_is_access_denied(gcp_store, gcp_fake):
    gcp_fake.fail_next(403)

    with pytest.raises(AccessDenied):
        gcp_store.read(new_name())


def test_a_project_the_credentials_cannot_see_is_access_denied(make_gcp_store):
    with pytest.raises(AccessDenied):
        make_gcp_store(project_id="someone-elses-project").check()


def test_slow_provider_is_a_timeout_within_the_budget(make_gcp_store, gcp_fake):
    store = make_gcp_store(budget=ONE_QUICK_ATTEMPT)
    gcp_fake.stall()
    started = time.monotonic()

    with pytest.raises(ProviderTimeout):
        store.read(new_name())

    assert time.monotonic() - started < 3  # the fake holds a request for 30 s


def test_closed_port_is_provider_unavailable(make_gcp_store):
    store = make_gcp_store(budget=ONE_QUICK_ATTEMPT, endpoint=f"http://127.0.0.1:{closed_port()}")

    with pytest.raises(ProviderUnavailable):
        store.check()


# --- building ----------------------------------------------------------------

def test_build_requires_a_project_id():
    with pytest.raises(BadProviderConfig):
        build(ProviderContext(settings={}, credentials=None, seed={}))


@pytest.fixture(scope="module")
def service_account_info() -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode("ascii")
    return {"type": "service_account", "project_id": "kps-test", "private_key_id": "k1",
            "private_key": pem, "client_email": "kps@kps-test.iam.gserviceaccount.com",
            "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"}


@pytest.mark.parametrize("as_text", [False, True], ids=["object", "json-text"])
def test_build_takes_a_service_account_as_object_or_json_text(service_account_info, as_text):
    given = json.dumps(service_account_info) if as_text else service_account_info
    ctx = ProviderContext(settings={"project_id": "kps-test"},
                          credentials={"service_account_json": given}, seed={})

    store = build(ctx)

    assert isinstance(store, GcpSecretStore)
    assert "PRIVATE KEY" not in repr(store)


def test_build_takes_the_seed_service_account(service_account_info):
    ctx = ProviderContext(settings={"project_id": "kps-test"}, credentials=None,
                          seed={"GCP_CREDENTIALS_JSON": json.dumps(service_account_info)})

    assert isinstance(build(ctx), GcpSecretStore)


@pytest.mark.parametrize("given", ["{not json", {"type": "service_account"}],
                         ids=["not-json", "incomplete"])
def test_build_refuses_an_invalid_service_account(given):
    ctx = ProviderContext(settings={"project_id": "kps-test"},
                          credentials={"service_account_json": given}, seed={})

    with pytest.raises(BadProviderConfig, match="service account JSON is not valid"):
        build(ctx)

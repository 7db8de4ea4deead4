"""Azure Key Vault specifics: what lands in the fake vault (over HTTPS, through
the real bearer challenge and Entra ID token flow), soft deletion, ordering of
versions dated to the second, and how service and transport failures surface.
The generic behaviour is in test_contract.py."""

from __future__ import annotations

import time

import pytest

from kms.providers.azure import SEQUENCE_TAG, build
from kms.providers.base import (
    AccessDenied,
    BadProviderConfig,
    ProviderContext,
    ProviderTimeout,
    ProviderUnavailable,
    SecretAlreadyExists,
    SecretNotFound,
    Throttled,
)
from tests.fakes.azure_key_vault import FakeKeyVault
from tests.fixtures.azure import azure_context
from tests.providers.support import ONE_QUICK_ATTEMPT, closed_port, new_name

VAULT_SCOPE = "https://vault.azure.net/.default"


# --- what is stored ----------------------------------------------------------

def test_create_stores_the_value_in_the_vault(azure_store, azure_fake):
    name = new_name()

    version_id = azure_store.create(name, "pässwörd", {})

    [stored] = azure_fake.secrets[name]
    assert (stored.id, stored.value) == (version_id, "pässwörd")


def test_create_tags_the_version_with_the_labels(azure_store, azure_fake):
    name = new_name()

    azure_store.create(name, "v", {"owner": "user-1", "ref": "ref-1"})

    assert azure_fake.secrets[name][0].tags == {"owner": "user-1", "ref": "ref-1",
                                                SEQUENCE_TAG: "1"}


def test_add_version_carries_the_labels_to_the_new_version(azure_store, azure_fake):
    name = new_name()
    azure_store.create(name, "first", {"owner": "user-1"})

    azure_store.add_version(name, "second")

    assert azure_fake.secrets[name][-1].tags == {"owner": "user-1", SEQUENCE_TAG: "2"}


def test_add_version_to_a_missing_secret_creates_nothing(azure_store, azure_fake):
    name = new_name()

    with pytest.raises(SecretNotFound):
        azure_store.add_version(name, "value")

    assert name not in azure_fake.secrets


def test_versions_dated_to_the_same_second_list_in_the_order_made(azure_store, azure_fake):
    name = new_name()
    ids = [azure_store.create(name, "1", {})] + [azure_store.add_version(name, str(n))
                                                 for n in range(2, 7)]
    for version in azure_fake.secrets[name]:
        version.created = 1_700_000_000  # the vault lists them in version-id order

    assert azure_store.list_versions(name) == ids


# --- authentication ----------------------------------------------------------

@pytest.fixture
def fresh_vault(azure_ca, azure_trust):
    """A vault at an address no client has met: the SDK caches challenges per address."""
    fake = FakeKeyVault(azure_ca).start()
    yield fake
    fake.stop()


def test_first_request_is_challenged_and_a_token_is_fetched_for_the_vault(fresh_vault):
    store = build(azure_context(fresh_vault))

    store.create(new_name(), "value", {})

    assert fresh_vault.challenges == 1
    assert [(r["client_id"], r["scope"]) for r in fresh_vault.token_requests] == [
        (fresh_vault.client_id, VAULT_SCOPE)]


def test_the_token_is_reused_across_calls(azure_store, azure_fake):
    name = new_name()
    azure_store.create(name, "value", {})
    azure_store.read(name)

    assert len(azure_fake.token_requests) == 1


def test_wrong_client_secret_is_access_denied(make_azure_store, azure_fake):
    store = make_azure_store(credentials={"tenant_id": azure_fake.tenant_id,
                                          "client_id": azure_fake.client_id,
                                          "client_secret": "wrong"})

    with pytest.raises(AccessDenied):
        store.check()

    assert azure_fake.tokens == set()


def test_unreachable_token_service_is_provider_unavailable(make_azure_store):
    store = make_azure_store(budget=ONE_QUICK_ATTEMPT,
                             authority_host=f"https://127.0.0.1:{closed_port()}")

    with pytest.raises(ProviderUnavailable):
        store.check()


# --- soft deletion -----------------------------------------------------------

def test_delete_soft_deletes_without_waiting_for_the_deletion(azure_store, azure_fake):
    name = new_name()
    azure_store.create(name, "value", {})

    azure_store.delete(name)

    assert name in azure_fake.deleted and name not in azure_fake.secrets
    assert not [r for r in azure_fake.requests if r.startswith("GET /deletedsecrets")]


def test_a_soft_deleted_name_is_still_taken(azure_store, azure_fake):
    name = new_name()
    azure_store.create(name, "value", {})
    azure_store.delete(name)

    with pytest.raises(SecretAlreadyExists):
        azure_store.create(name, "again", {})


def test_a_soft_deleted_secret_does_not_block_a_new_one(azure_store, azure_fake):
    old, new = new_name(), new_name()
    azure_store.create(old, "old", {})
    azure_store.delete(old)

    azure_store.create(new, "new", {})

    assert old in azure_fake.deleted
    assert azure_store.read(new).value == "new"


def test_purge_on_delete_purges_the_deleted_secret(make_azure_store, azure_fake):
    store = make_azure_store(purge_on_delete=True)
    name = new_name()
    store.create(name, "value", {})

    store.delete(name)

    assert name not in azure_fake.deleted and name not in azure_fake.secrets


# --- failures ----------------------------------------------------------------

def test_one_unavailable_answer_is_retried_within_the_budget(azure_store, azure_fake):
    name = new_name()
    azure_store.create(name, "value", {})
    azure_fake.fail_next(503)

    assert azure_store.read(name).value == "value"


def test_unavailable_vault_is_provider_unavailable_with_a_fixed_message(azure_store, azure_fake):
    azure_fake.fail_next(503, times=2)

    with pytest.raises(ProviderUnavailable) as caught:
        azure_store.check()

    assert str(caught.value) == ProviderUnavailable.default_message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_throttling_is_throttled_with_retry_after_and_not_slept_through(azure_store, azure_fake):
    azure_fake.fail_next(429, retry_after=7)
    started = time.monotonic()

    with pytest.raises(Throttled) as caught:
        azure_store.check()

    assert caught.value.retry_after == 7
    assert time.monotonic() - started < 3


def test_throttling_with_a_short_retry_after_is_retried(azure_store, azure_fake):
    azure_fake.fail_next(429, retry_after=0)

    assert azure_store.check() is None


def test_forbidden_is_access_denied(azure_store, azure_fake):
    azure_fake.fail_next(403)

    with pytest.raises(AccessDenied):
        azure_store.read(new_name())


def test_slow_vault_is_a_timeout_within_the_budget(make_azure_store, azure_fake):
    store = make_azure_store(budget=ONE_QUICK_ATTEMPT)
    azure_fake.stall()
    started = time.monotonic()

    with pytest.raises(ProviderTimeout):
        store.read(new_name())

    assert time.monotonic() - started < 3  # the fake holds a request for 30 s


def test_closed_vault_port_is_provider_unavailable(make_azure_store):
    store = make_azure_store(budget=ONE_QUICK_ATTEMPT,
                             vault_url=f"https://127.0.0.1:{closed_port()}")

    with pytest.raises(ProviderUnavailable):
        store.check()


# --- building ----------------------------------------------------------------

def test_build_refuses_a_vault_url_that_is_not_https(azure_fake):
    ctx = azure_context(azure_fake, vault_url=azure_fake.url.replace("https:", "http:"))

    with pytest.raises(BadProviderConfig):
        build(ctx)


def test_build_refuses_incomplete_credentials(azure_fake):
    ctx = azure_context(azure_fake, credentials={"tenant_id": azure_fake.tenant_id,
                                                 "client_id": azure_fake.client_id})

    with pytest.raises(BadProviderConfig):
        build(ctx)


def test_build_takes_the_vault_url_and_principal_from_the_seed(azure_fake):
    seed = {"AZURE_VAULT_URL": azure_fake.url, "AZURE_TENANT_ID": azure_fake.tenant_id,
            "AZURE_CLIENT_ID": azure_fake.client_id,
            "AZURE_CLIENT_SECRET": azure_fake.client_secret}
    store = build(ProviderContext(settings={"authority_host": azure_fake.url}, credentials=None,
                                  seed=seed))

    assert store.check() is None


def test_build_refuses_a_purge_on_delete_that_is_not_a_boolean(azure_fake):
    with pytest.raises(BadProviderConfig):
        build(azure_context(azure_fake, purge_on_delete="yes"))

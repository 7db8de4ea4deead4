"""The built-in provider specifics: what MongoDB holds, tamper detection, master-key
re-wrapping and concurrent writers."""

from __future__ import annotations

import os
import threading
import uuid

import bson
import pymongo
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kms.crypto import KEY_BYTES, Keyring
from kms.providers import local
from kms.providers.base import ProviderError, ProviderUnavailable, SecretNotFound
from tests.fixtures.local_provider import TEST_ORG, local_context
from tests.providers.support import new_name

TAMPERED = "stored ciphertext failed authentication"


@pytest.fixture
def records(mongo_db):
    return mongo_db[local.COLLECTION]


def test_record_keeps_org_owner_and_numbered_versions(local_store, records):
    name = new_name()
    local_store.create(name, "one", {"owner": "user-7", "ref": "r"})
    local_store.add_version(name, "two")

    doc = records.find_one({"_id": name})

    assert (doc["org"], doc["owner"]) == (TEST_ORG, "user-7")
    assert [v["v"] for v in doc["versions"]] == [1, 2]
    assert all({"created_at", "dek", "data"} <= set(v) for v in doc["versions"])


def test_version_ids_are_the_version_numbers(local_store):
    name = new_name()

    ids = [local_store.create(name, "one", {}), local_store.add_version(name, "two")]

    assert ids == ["1", "2"]


def test_mongodb_holds_no_plaintext(local_store, records):
    name = new_name()
    values = [f"plaintext-canary-{uuid.uuid4().hex}", "ünïcode-canary-пароль-🔑"]
    local_store.create(name, values[0], {"owner": "user-1"})
    local_store.add_version(name, values[1])

    stored = b"".join(bson.encode(doc) for doc in records.find())

    assert not any(v.encode("utf-8") in stored for v in values)


def test_each_version_has_its_own_wrapped_data_key(local_store, records):
    name = new_name()
    local_store.create(name, "same", {})
    local_store.add_version(name, "same")

    first, second = records.find_one({"_id": name})["versions"]

    assert first["dek"]["ct"] != second["dek"]["ct"]


def test_swapping_ciphertexts_between_versions_fails_authentication(local_store, records):
    name = new_name()
    local_store.create(name, "one", {})
    local_store.add_version(name, "two")
    first, second = records.find_one({"_id": name})["versions"]
    records.update_one({"_id": name}, {"$set": {"versions.0.dek": second["dek"],
                                                "versions.0.data": second["data"]}})

    with pytest.raises(ProviderError, match=f"^{TAMPERED}$"):
        local_store.read(name, "1")


def test_swapping_a_version_between_records_fails_authentication(local_store, records):
    victim, donor = new_name(), new_name()
    local_store.create(victim, "victim value", {"owner": "user-1"})
    local_store.create(donor, "donor value", {"owner": "user-1"})
    donated = records.find_one({"_id": donor})["versions"][0]
    records.update_one({"_id": victim}, {"$set": {"versions.0": donated}})

    with pytest.raises(ProviderError, match=f"^{TAMPERED}$"):
        local_store.read(victim)


def test_changing_the_owner_fails_authentication(local_store, records):
    name = new_name()
    local_store.create(name, "value", {"owner": "user-1"})
    records.update_one({"_id": name}, {"$set": {"owner": "user-2"}})

    with pytest.raises(ProviderError, match=f"^{TAMPERED}$"):
        local_store.read(name)


def test_changing_the_org_hides_the_record_from_its_org(local_store, records):
    name = new_name()
    local_store.create(name, "value", {})
    records.update_one({"_id": name}, {"$set": {"org": "org-other"}})

    with pytest.raises(SecretNotFound):
        local_store.read(name)


def test_record_moved_to_another_org_fails_authentication_there(local_store, records, mongo_db,
                                                                 local_keyring):
    name = new_name()
    local_store.create(name, "value", {})
    records.update_one({"_id": name}, {"$set": {"org": "org-other"}})
    other_org = local.build(local_context(mongo_db, local_keyring, org_id="org-other"))

    with pytest.raises(ProviderError, match=f"^{TAMPERED}$"):
        other_org.read(name)


def test_another_orgs_store_cannot_see_the_record(local_store, mongo_db, local_keyring):
    name = new_name()
    local_store.create(name, "value", {})
    other_org = local.build(local_context(mongo_db, local_keyring, org_id="org-other"))

    with pytest.raises(SecretNotFound):
        other_org.read(name)


def test_read_under_an_unknown_master_key_fails(local_store, mongo_db):
    name = new_name()
    local_store.create(name, "value", {})
    stranger = local.build(local_context(mongo_db, Keyring(os.urandom(KEY_BYTES))))

    with pytest.raises(ProviderError) as caught:
        stranger.read(name)

    assert "value" not in str(caught.value)


def test_rewrap_all_reseals_every_data_key_under_the_new_master_key(
        local_store, records, mongo_db, local_master_key):
    first, second = new_name(), new_name()
    local_store.create(first, "first v1", {"owner": "user-1"})
    local_store.add_version(first, "first v2")
    local_store.create(second, "second v1", {"owner": "user-2"})
    rotated = Keyring(os.urandom(KEY_BYTES), previous=(local_master_key,))

    count = local.rewrap_all(mongo_db, rotated)

    kids = [v["dek"]["kid"] for doc in records.find() for v in doc["versions"]]
    assert count == 3 and kids == [rotated.current_kid] * 3


def test_rewrap_all_leaves_the_value_ciphertexts_alone(local_store, records, mongo_db,
                                                       local_master_key):
    name = new_name()
    local_store.create(name, "v1", {})
    local_store.add_version(name, "v2")
    before = [v["data"] for v in records.find_one({"_id": name})["versions"]]

    local.rewrap_all(mongo_db, Keyring(os.urandom(KEY_BYTES), previous=(local_master_key,)))

    assert [v["data"] for v in records.find_one({"_id": name})["versions"]] == before


def test_values_read_with_only_the_new_master_key_after_rewrap(local_store, mongo_db,
                                                                local_master_key):
    name = new_name()
    local_store.create(name, "v1", {"owner": "user-1"})
    local_store.add_version(name, "v2")
    new_key = os.urandom(KEY_BYTES)
    local.rewrap_all(mongo_db, Keyring(new_key, previous=(local_master_key,)))

    only_new = local.build(local_context(mongo_db, Keyring(new_key)))

    assert [only_new.read(name, v).value for v in ("1", "2")] == ["v1", "v2"]


def test_rewrap_all_again_has_nothing_to_do(local_store, mongo_db, local_master_key):
    local_store.create(new_name(), "value", {})
    rotated = Keyring(os.urandom(KEY_BYTES), previous=(local_master_key,))
    local.rewrap_all(mongo_db, rotated)

    assert local.rewrap_all(mongo_db, rotated) == 0


def test_concurrent_add_version_gives_every_writer_its_own_version(local_store):
    name = new_name()
    local_store.create(name, "initial", {})
    # 24 adds in all: a writer can lose at most 23 races, under MAX_ADD_ATTEMPTS.
    writers, adds_each = 6, 4
    start = threading.Barrier(writers)
    results: dict[str, str] = {}
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        start.wait()
        try:
            for n in range(adds_each):
                value = f"writer {writer} add {n}"
                results[local_store.add_version(name, value)] = value
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert failures == []
    assert local_store.list_versions(name) == [str(v) for v in range(1, writers * adds_each + 2)]
    assert all(local_store.read(name, vid).value == value for vid, value in results.items())


def test_check_fails_when_the_database_is_unreachable(local_keyring):
    client = pymongo.MongoClient("mongodb://127.0.0.1:1/?directConnection=true",
                                 serverSelectionTimeoutMS=200)
    store = local.build(local_context(client["unreachable"], local_keyring))
    try:
        with pytest.raises(ProviderUnavailable):
            store.check()
    finally:
        client.close()


@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(min_size=1, max_size=300))
def test_any_text_round_trips(local_store, value):
    # The store is shared by the examples; each writes under a fresh name.
    name = new_name()
    local_store.create(name, value, {"owner": "user-1"})

    assert local_store.read(name).value == value

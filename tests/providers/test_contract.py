"""The contract every provider keeps, run against each through the ``store`` fixture
(as Vault runs ExerciseBackend on every physical backend)."""

from __future__ import annotations

import json
import traceback
import uuid

import pytest

from kms.providers.base import ProviderError, SecretAlreadyExists, SecretNotFound
from tests.providers.support import new_name

LABELS = {"owner": "user-1", "ref": "ref-1"}
# 2,500 x (1 + 2 + 3 + 4 bytes) = 25,000 bytes of UTF-8, the largest value accepted.
MAX_SIZE_VALUE = "aé€😀" * 2500


def new_value() -> str:
    return f"s3cr3t-{uuid.uuid4().hex}"


def test_read_after_create_returns_the_value_as_latest(store):
    name, value = new_name(), new_value()
    version_id = store.create(name, value, LABELS)

    latest = store.read(name)

    assert (latest.value, latest.version_id) == (value, version_id)


def test_add_version_becomes_the_latest(store):
    name, second = new_name(), new_value()
    store.create(name, new_value(), LABELS)

    version_id = store.add_version(name, second)

    latest = store.read(name)
    assert (latest.value, latest.version_id) == (second, version_id)


def test_older_version_stays_readable_by_its_id_after_add_version(store):
    name, first = new_name(), new_value()
    first_id = store.create(name, first, LABELS)
    store.add_version(name, new_value())

    older = store.read(name, first_id)

    assert (older.value, older.version_id) == (first, first_id)


def test_list_versions_is_oldest_first(store):
    name = new_name()
    ids = [store.create(name, new_value(), LABELS)]
    ids += [store.add_version(name, new_value()) for _ in range(3)]

    assert store.list_versions(name) == ids


def test_version_ids_are_distinct(store):
    name = new_name()
    ids = [store.create(name, "same", LABELS), store.add_version(name, "same")]

    assert len(set(ids)) == 2


def test_add_version_to_missing_secret_raises_not_found(store):
    with pytest.raises(SecretNotFound):
        store.add_version(new_name(), new_value())


def test_read_missing_secret_raises_not_found(store):
    with pytest.raises(SecretNotFound):
        store.read(new_name())


def test_list_versions_of_missing_secret_raises_not_found(store):
    with pytest.raises(SecretNotFound):
        store.list_versions(new_name())


# Ids in the shape other providers issue: a reference moved between providers.
@pytest.mark.parametrize("unknown_id", ["999999", uuid.uuid4().hex, str(uuid.uuid4())],
                         ids=["number", "hex", "uuid"])
def test_read_unknown_version_raises_not_found(store, unknown_id):
    name = new_name()
    store.create(name, new_value(), LABELS)

    with pytest.raises(SecretNotFound):
        store.read(name, unknown_id)


def test_duplicate_create_raises_already_exists(store):
    name = new_name()
    store.create(name, new_value(), LABELS)

    with pytest.raises(SecretAlreadyExists):
        store.create(name, new_value(), LABELS)


def test_duplicate_create_leaves_the_first_value(store):
    name, first = new_name(), new_value()
    store.create(name, first, LABELS)

    with pytest.raises(SecretAlreadyExists):
        store.create(name, new_value(), LABELS)

    assert store.read(name).value == first


def test_read_after_delete_raises_not_found(store):
    name = new_name()
    store.create(name, new_value(), LABELS)

    store.delete(name)

    with pytest.raises(SecretNotFound):
        store.read(name)


def test_delete_missing_secret_raises_not_found(store):
    with pytest.raises(SecretNotFound):
        store.delete(new_name())


def test_new_name_works_at_once_after_a_delete(store):
    old, new, value = new_name(), new_name(), new_value()
    store.create(old, new_value(), LABELS)
    store.delete(old)

    store.create(new, value, LABELS)

    assert store.read(new).value == value


def test_unicode_value_round_trips(store):
    name, value = new_name(), "pässwörd · 密码 · пароль · 🔑 · مرحبا"
    store.create(name, value, LABELS)

    assert store.read(name).value == value


def test_max_size_value_round_trips(store):
    assert len(MAX_SIZE_VALUE.encode("utf-8")) == 25_000
    name = new_name()
    store.create(name, MAX_SIZE_VALUE, LABELS)

    assert store.read(name).value == MAX_SIZE_VALUE


def test_max_size_value_round_trips_as_a_new_version(store):
    name = new_name()
    store.create(name, new_value(), LABELS)
    version_id = store.add_version(name, MAX_SIZE_VALUE)

    assert store.read(name, version_id).value == MAX_SIZE_VALUE


@pytest.mark.parametrize("value", [
    "x",
    "line one\nline two\n",
    json.dumps({"user": "app", "password": "p@ss\"word", "port": 5432}),
    "  padded with spaces and a tab\t ",
    "-----BEGIN KEY-----\r\nQUJD\r\n-----END KEY-----\r\n",
], ids=["single-char", "newlines", "json", "surrounding-whitespace", "crlf-pem"])
def test_edge_value_round_trips_exactly(store, value):
    name = new_name()
    store.create(name, value, LABELS)

    assert store.read(name).value == value


def test_check_passes_on_a_reachable_provider(store):
    assert store.check() is None


def test_store_repr_and_str_show_no_value(store):
    name, value = new_name(), new_value()
    store.create(name, value, LABELS)
    store.read(name)

    assert value not in repr(store) and value not in str(store)


def test_secret_version_repr_and_str_show_no_value(store):
    name, value = new_name(), new_value()
    store.create(name, value, LABELS)

    version = store.read(name)

    assert value not in repr(version) and value not in str(version)


def _whole_text(exc: BaseException) -> str:
    """Everything a traceback log would show: messages and causes, chained."""
    return "".join(traceback.format_exception(exc)) + repr(exc)


def test_error_for_a_missing_secret_never_contains_the_value(store):
    value = new_value()

    with pytest.raises(ProviderError) as caught:
        store.add_version(new_name(), value)

    assert value not in _whole_text(caught.value)


def test_error_for_a_duplicate_create_never_contains_the_value(store):
    name, value = new_name(), new_value()
    store.create(name, new_value(), LABELS)

    with pytest.raises(ProviderError) as caught:
        store.create(name, value, LABELS)

    assert value not in _whole_text(caught.value)

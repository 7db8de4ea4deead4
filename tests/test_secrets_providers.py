"""The secrets API end to end through every provider: the value lives in the provider,
MongoDB holds only the reference."""

import json
import threading

import pytest
from prometheus_client import REGISTRY

from kms.providers.base import SecretNotFound
from tests.fixtures.secrets_api import dump_database, object_name

VALUE = "s3cr3t-value-Ω-" + "x" * 20


def test_create_answers_201_and_the_value_is_in_the_provider_only(owner, provider, observer, db):
    response = owner.post("/create-secret", json={"secret_name": "db-password", "secret_value": VALUE})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["name"] == "db-password" and body["provider"] == provider and body["version"] == 1
    assert body["kms_reference"] and body["created_at"]
    assert observer.read(object_name(db, owner.id, "db-password")).value == VALUE
    assert VALUE.encode() not in dump_database(db)


def test_original_and_v1_reads_return_the_value(owner, provider):
    owner.post("/api/v1/secrets", json={"name": "api-key", "value": VALUE})
    legacy = owner.post("/get-secret", json={"secret_name": "api-key"})
    assert legacy.status_code == 200 and legacy.get_json() == {"name": "api-key", "secret": VALUE, "version": 1}
    v1 = owner.get("/api/v1/secrets/api-key").get_json()
    assert v1["value"] == VALUE and v1["provider"] == provider and v1["version"] == 1


def test_update_makes_a_new_version_and_old_versions_stay_readable(owner, provider):
    owner.post("/api/v1/secrets", json={"name": "rotating", "value": "one"})
    response = owner.put("/api/v1/secrets/rotating", json={"value": "two"})
    assert response.status_code == 200 and response.get_json()["version"] == 2
    assert owner.get("/api/v1/secrets/rotating").get_json()["value"] == "two"
    assert owner.get("/api/v1/secrets/rotating?version=1").get_json()["value"] == "one"
    versions = owner.get("/api/v1/secrets/rotating/versions").get_json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]


def test_delete_removes_it_from_the_provider_and_the_name_is_reusable_at_once(owner, provider, observer, db):
    owner.post("/api/v1/secrets", json={"name": "temp", "value": "first"})
    old_object = object_name(db, owner.id, "temp")
    assert owner.delete("/api/v1/secrets/temp").status_code == 204
    assert owner.get("/api/v1/secrets/temp").status_code == 404
    with pytest.raises(SecretNotFound):
        observer.read(old_object)
    assert owner.post("/api/v1/secrets", json={"name": "temp", "value": "second"}).status_code == 201
    assert owner.get("/api/v1/secrets/temp").get_json()["value"] == "second"


def test_two_users_may_use_one_name(owner, make_user, provider):
    other = make_user(kms=provider)
    owner.post("/api/v1/secrets", json={"name": "shared-name", "value": "mine"})
    other.post("/api/v1/secrets", json={"name": "shared-name", "value": "theirs"})
    assert owner.get("/api/v1/secrets/shared-name").get_json()["value"] == "mine"
    assert other.get("/api/v1/secrets/shared-name").get_json()["value"] == "theirs"


def test_get_all_secrets_returns_the_callers_values_only(owner, make_user, provider):
    other = make_user(kms=provider)
    for i in range(3):
        owner.post("/api/v1/secrets", json={"name": f"s{i}", "value": f"v{i}"})
    other.post("/api/v1/secrets", json={"name": "not-yours", "value": "hidden"})
    secrets = owner.get("/get-all-secrets").get_json()["secrets"]
    assert {(s["secret_name"], s["secret_value"]) for s in secrets} == {("s0", "v0"), ("s1", "v1"), ("s2", "v2")}
    assert all(s["provider"] == provider and s["version"] == 1 and s["created_time"] for s in secrets)


def test_get_all_secrets_returns_the_latest_value_of_more_secrets_than_one_batch_holds(owner, provider):
    names = [f"many-{i:02d}" for i in range(23)]  # AWS: two BatchGetSecretValue calls
    for name in names:
        assert owner.post("/api/v1/secrets", json={"name": name, "value": f"first {name}"}).status_code == 201
    assert owner.put("/api/v1/secrets/many-07", json={"value": "second"}).status_code == 200
    before = _provider_calls(provider)
    secrets = owner.get("/get-all-secrets").get_json()["secrets"]
    expected = {name: ("second", 2) if name == "many-07" else (f"first {name}", 1) for name in names}
    assert {s["secret_name"]: (s["secret_value"], s["version"]) for s in secrets} == expected
    calls = {operation: _provider_calls(provider)[operation] - before[operation] for operation in before}
    assert calls == ({"read_many": 2, "read": 0} if provider == "aws" else {"read_many": 0, "read": 23})


def _provider_calls(provider: str) -> dict[str, float]:
    """Successful provider calls so far, as /metrics reports them."""
    return {operation: REGISTRY.get_sample_value("kps_provider_calls_total", {
        "provider": provider, "operation": operation, "outcome": "success"}) or 0.0
        for operation in ("read_many", "read")}


def test_a_max_size_unicode_value_round_trips(owner, provider):
    value = ("ü" * 12_500)  # 25,000 bytes in UTF-8, sent as raw UTF-8 JSON
    body = json.dumps({"name": "big", "value": value}, ensure_ascii=False).encode()
    assert owner.post("/api/v1/secrets", data=body, content_type="application/json").status_code == 201
    assert owner.get("/api/v1/secrets/big").get_json()["value"] == value


def test_concurrent_creates_of_one_name_give_one_201_and_409s(app, owner, provider):
    statuses = []

    def create():
        client = app.test_client()
        statuses.append(client.post("/api/v1/secrets", json={"name": "race", "value": "v"},
                                    headers=owner.headers).status_code)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 409, 409, 409]
    assert owner.get("/api/v1/secrets/race").get_json()["value"] == "v"

"""Provider failures: the contract's status, a Retry-After where known, nothing
orphaned; and the reconciler finishing what a crash left half done."""

import pytest

from kms.providers.base import SecretNotFound
from models.secret_refs import DELETING, PENDING


@pytest.fixture
def app_settings(app_settings):
    # A small time budget so a stalled provider becomes a 504 quickly.
    return {**app_settings, "KPS_PROVIDER_READ_TIMEOUT": "0.5", "KPS_PROVIDER_CONNECT_TIMEOUT": "0.5",
            "KPS_PROVIDER_MAX_ATTEMPTS": "1"}


@pytest.fixture
def gcp_owner(configure, make_user):
    configure("gcp")
    return make_user(kms="gcp")


@pytest.fixture
def azure_owner(configure, make_user):
    configure("azure")
    return make_user(kms="azure")


def _no_reference(db, owner, name):
    return db.secret_refs.find_one({"owner_id": owner.id, "name": name}) is None


def test_provider_unavailable_on_create_is_503_and_leaves_nothing(gcp_owner, gcp_fake, db):
    gcp_fake.fail_next(503, on=":addVersion")
    response = gcp_owner.post("/api/v1/secrets", json={"name": "n", "value": "v"})
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert _no_reference(db, gcp_owner, "n") and gcp_fake.secrets == {}


def test_provider_throttling_is_503_with_its_retry_after(azure_owner, azure_fake):
    azure_owner.post("/api/v1/secrets", json={"name": "n", "value": "v"})
    azure_fake.fail_next(429, retry_after=7)
    response = azure_owner.get("/api/v1/secrets/n")
    assert response.status_code == 503 and response.headers["Retry-After"] == "7"
    assert "v" != response.get_json().get("value")


def test_provider_refusing_credentials_is_502(gcp_owner, gcp_fake, db):
    gcp_fake.fail_next(403)
    response = gcp_owner.post("/api/v1/secrets", json={"name": "n", "value": "v"})
    assert response.status_code == 502
    assert "Permission" not in response.get_json()["detail"]  # never the provider's own text


def test_a_stalled_provider_is_504_and_the_reference_is_not_orphaned(gcp_owner, gcp_fake, db):
    gcp_fake.stall(on=":addVersion")
    response = gcp_owner.post("/api/v1/secrets", json={"name": "slow", "value": "v"})
    gcp_fake.release()
    assert response.status_code == 504
    # Either undone at once, or left pending for the reconciler: never an active reference.
    assert db.secret_refs.count_documents({"owner_id": gcp_owner.id, "state": {"$ne": PENDING}}) == 0
    assert _no_reference(db, gcp_owner, "slow")


def test_an_unreachable_provider_is_503(admin, make_user, db):
    admin.put("/api/v1/kms/aws", json={"region": "us-east-1", "endpoint_url": "http://127.0.0.1:9",
                                       "credentials": {"access_key_id": "a", "secret_access_key": "b"}})
    owner = make_user(kms="aws")
    response = owner.post("/api/v1/secrets", json={"name": "n", "value": "v"})
    assert response.status_code == 503
    assert _no_reference(db, owner, "n")  # the name is free for a retry at once
    assert db.secret_refs.find_one({"owner_id": owner.id})["state"] == PENDING  # the reconciler's to resolve


def test_failed_update_keeps_the_old_version(gcp_owner, gcp_fake):
    gcp_owner.post("/api/v1/secrets", json={"name": "n", "value": "old"})
    gcp_fake.fail_next(503)
    assert gcp_owner.put("/api/v1/secrets/n", json={"value": "new"}).status_code == 503
    current = gcp_owner.get("/api/v1/secrets/n").get_json()
    assert (current["value"], current["version"]) == ("old", 1)


def test_failed_delete_keeps_the_secret(gcp_owner, gcp_fake):
    gcp_owner.post("/api/v1/secrets", json={"name": "n", "value": "kept"})
    gcp_fake.fail_next(503, on="DELETE")
    assert gcp_owner.delete("/api/v1/secrets/n").status_code == 503
    assert gcp_owner.get("/api/v1/secrets/n").get_json()["value"] == "kept"


def test_get_all_secrets_reports_a_failing_secret_without_failing_the_rest(gcp_owner, gcp_fake):
    gcp_owner.post("/api/v1/secrets", json={"name": "a", "value": "va"})
    gcp_owner.post("/api/v1/secrets", json={"name": "b", "value": "vb"})
    gcp_fake.fail_next(503, times=1)
    secrets = {s["secret_name"]: s for s in gcp_owner.get("/get-all-secrets").get_json()["secrets"]}
    values = sorted(str(s["secret_value"]) for s in secrets.values())
    assert values in (["None", "vb"], ["None", "va"])
    assert sum(1 for s in secrets.values() if "error" in s) == 1


def test_reconciler_removes_a_create_interrupted_by_a_crash(app, runner, gcp_owner, gcp_store, db):
    services = app.extensions["kps"]
    ref = services.secret_refs.reserve(gcp_owner.id, "crashed", "gcp", None)  # step 1 done
    gcp_store.create(ref.object_name, "v", {})                                # step 2 done, then a crash
    result = runner.invoke(args=["kps", "reconcile", "--older-than", "0"])
    assert result.exit_code == 0, result.output
    assert _no_reference(db, gcp_owner, "crashed")
    with pytest.raises(SecretNotFound):
        gcp_store.read(ref.object_name)
    assert gcp_owner.post("/api/v1/secrets", json={"name": "crashed", "value": "again"}).status_code == 201


def test_reconciler_finishes_a_delete_interrupted_by_a_crash(app, runner, gcp_owner, gcp_store, db):
    gcp_owner.post("/api/v1/secrets", json={"name": "going", "value": "v"})
    ref = app.extensions["kps"].secret_refs.mark_deleting(gcp_owner.id, "going")  # then a crash
    assert ref.state == DELETING
    assert gcp_owner.get("/api/v1/secrets/going").status_code == 404
    runner.invoke(args=["kps", "reconcile", "--older-than", "0"])
    assert _no_reference(db, gcp_owner, "going")
    with pytest.raises(SecretNotFound):
        gcp_store.read(ref.object_name)


def test_reconciler_leaves_recent_references_alone(app, runner, gcp_owner, db):
    app.extensions["kps"].secret_refs.reserve(gcp_owner.id, "in-flight", "gcp", None)
    runner.invoke(args=["kps", "reconcile"])
    assert not _no_reference(db, gcp_owner, "in-flight")

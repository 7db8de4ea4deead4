"""Secrets API rules that do not depend on the provider (exercised on `local`)."""

import base64
import json

import pytest

from tests.fixtures.app import audit_events
from tests.fixtures.secrets_api import dump_database


@pytest.fixture
def owner(make_user):
    return make_user(kms="local")


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "-dash", "", "x" * 129, "spa ce", "ümlaut"])
def test_invalid_secret_names_are_400(owner, name):
    assert owner.post("/api/v1/secrets", json={"name": name, "value": "v"}).status_code == 400


@pytest.mark.parametrize("value", [{"$ne": None}, ["a"], 5, None, True])
def test_non_string_values_are_400(owner, value):
    response = owner.post("/create-secret", json={"secret_name": "n", "secret_value": value})
    assert response.status_code == 400 and "value" in response.get_json()["errors"]


def test_name_as_an_object_is_400(owner):
    assert owner.post("/get-secret", json={"secret_name": {"$regex": ".*"}}).status_code == 400


def test_value_over_25000_bytes_is_413(owner):
    response = owner.post("/api/v1/secrets", json={"name": "big", "value": "x" * 25_001})
    assert response.status_code == 413 and response.mimetype == "application/problem+json"
    assert owner.get("/api/v1/secrets/big").status_code == 404


def test_duplicate_name_is_409(owner):
    owner.post("/api/v1/secrets", json={"name": "dup", "value": "a"})
    assert owner.post("/api/v1/secrets", json={"name": "dup", "value": "b"}).status_code == 409
    assert owner.get("/api/v1/secrets/dup").get_json()["value"] == "a"


def test_update_of_a_missing_secret_is_404(owner):
    assert owner.put("/api/v1/secrets/nope", json={"value": "v"}).status_code == 404


def test_unknown_version_is_404(owner):
    owner.post("/api/v1/secrets", json={"name": "one", "value": "a"})
    assert owner.get("/api/v1/secrets/one?version=7").status_code == 404


def test_another_users_secret_is_404_everywhere_for_admins_too(owner, make_user, admin, db):
    owner.post("/api/v1/secrets", json={"name": "private", "value": "mine"})
    for intruder in (make_user(), admin):
        assert intruder.get("/api/v1/secrets/private").status_code == 404
        assert intruder.post("/get-secret", json={"name": "private"}).status_code == 404
        assert intruder.put("/api/v1/secrets/private", json={"value": "x"}).status_code == 404
        assert intruder.delete("/api/v1/secrets/private").status_code == 404
        assert intruder.get("/api/v1/secrets/private/versions").status_code == 404
    assert owner.get("/api/v1/secrets/private").get_json()["value"] == "mine"
    denied = audit_events(db, outcome="denied", status=404)
    assert {e["actor"]["email"] for e in denied} >= {admin.email}


def test_list_is_metadata_only_and_paginated(owner):
    for name in ("a1", "a2", "a3"):
        owner.post("/api/v1/secrets", json={"name": name, "value": "value-" + name, "description": "d"})
    first = owner.get("/api/v1/secrets?limit=2").get_json()
    second = owner.get(f"/api/v1/secrets?limit=2&cursor={first['next_cursor']}").get_json()
    names = [s["name"] for s in first["secrets"] + second["secrets"]]
    assert names == ["a1", "a2", "a3"] and second["next_cursor"] is None
    assert "value-a1" not in json.dumps(first)


def test_secret_in_an_unconfigured_provider_is_409_saying_so(make_user):
    user = make_user(kms="aws")
    response = user.post("/create-secret", json={"secret_name": "n", "secret_value": "v"})
    assert response.status_code == 409
    assert "aws provider is not configured" in response.get_json()["detail"]


def test_a_secret_keeps_its_provider_after_the_user_changes_selection(owner, configure):
    owner.post("/api/v1/secrets", json={"name": "old", "value": "kept"})
    configure("aws")
    owner.patch("/api/v1/auth/me", json={"kms": "aws"})
    owner.post("/api/v1/secrets", json={"name": "new", "value": "in-aws"})
    assert owner.get("/api/v1/secrets/old").get_json()["provider"] == "local"
    assert owner.get("/api/v1/secrets/new").get_json()["provider"] == "aws"


def test_secret_operations_are_audited_without_values(owner, db):
    owner.post("/api/v1/secrets", json={"name": "audited", "value": "VALUE-123"})
    owner.get("/api/v1/secrets/audited")
    owner.put("/api/v1/secrets/audited", json={"value": "VALUE-456"})
    owner.get("/api/v1/secrets")
    owner.delete("/api/v1/secrets/audited")
    actions = [e["action"] for e in audit_events(db, **{"target.name": "audited"})]
    assert actions == ["secret.create", "secret.read", "secret.update", "secret.delete"]
    assert b"VALUE-123" not in dump_database(db) and b"VALUE-456" not in dump_database(db)


# -- provider configuration ---------------------------------------------------------------

def test_configuring_providers_is_admin_only(owner):
    assert owner.put("/api/v1/kms/aws", json={"region": "us-east-1"}).status_code == 403
    assert owner.post("/configure-kms", json={"provider": "aws", "region": "us-east-1"}).status_code == 403


def test_configure_kms_never_echoes_or_stores_credentials_in_plaintext(admin, db):
    credentials = {"access_key_id": "AKIAEXAMPLEKEY123", "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCY"}
    response = admin.post("/configure-kms", json={"provider": "AWS", "region": "eu-west-1",
                                                  "credentials_b64": base64.b64encode(json.dumps(credentials).encode()).decode()})
    assert response.status_code == 200
    body = response.get_json()
    assert body["provider"] == "aws" and body["configured"] is True and body["region"] == "eu-west-1"
    dumped = dump_database(db)
    listed = admin.get("/api/v1/kms").get_data()
    for secret in credentials.values():
        assert secret.encode() not in dumped and secret.encode() not in response.get_data() and secret.encode() not in listed


def test_missing_required_settings_are_400(admin):
    assert admin.put("/api/v1/kms/aws", json={}).status_code == 400
    assert admin.put("/api/v1/kms/gcp", json={"project_id": "Bad Project"}).status_code == 400
    assert admin.put("/api/v1/kms/azure", json={"vault_url": "http://insecure.example"}).status_code == 400
    assert admin.post("/configure-kms", json={"provider": "vault"}).status_code == 400


def test_bad_credentials_shapes_are_400(admin):
    assert admin.put("/api/v1/kms/aws", json={"region": "us-east-1", "credentials": "AKIA:secret"}).status_code == 400
    assert admin.put("/api/v1/kms/aws", json={"region": "us-east-1", "credentials_b64": "%%%"}).status_code == 400


def test_local_is_always_configured_and_configuring_it_changes_nothing(admin):
    assert admin.post("/configure-kms", json={"provider": "local"}).get_json()["configured"] is True
    providers = {p["provider"]: p for p in admin.get("/api/v1/kms").get_json()["providers"]}
    assert providers["local"]["configured"] is True and providers["aws"]["configured"] is False


def test_removing_a_provider_makes_it_unconfigured(admin, configure):
    configure("aws")
    assert admin.delete("/api/v1/kms/aws").status_code == 204
    assert admin.delete("/api/v1/kms/aws").status_code == 404


def test_provider_test_reports_reachability(admin, configure):
    configure("aws")
    assert admin.post("/api/v1/kms/aws/test").get_json() == {"provider": "aws", "reachable": True,
                                                             "authorized": True, "detail": "ok"}
    assert admin.post("/api/v1/kms/gcp/test").status_code == 409


def test_provider_configuration_is_audited(admin, configure, db):
    configure("aws")
    assert audit_events(db, action="kms.configure", outcome="success")


def test_an_empty_value_is_400(owner):
    assert owner.post("/api/v1/secrets", json={"name": "empty", "value": ""}).status_code == 400


def test_a_value_with_a_lone_surrogate_is_400(owner):
    raw = '{"name": "bad-unicode", "value": "\\udc80"}'
    assert owner.post("/api/v1/secrets", data=raw, content_type="application/json").status_code == 400


class TestProduction:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "KPS_ENV": "production"}

    def test_custom_endpoints_are_refused_in_production(self, admin):
        response = admin.put("/api/v1/kms/aws", json={"region": "us-east-1", "endpoint_url": "http://localhost:4566"})
        assert response.status_code == 400 and "KPS_ALLOW_CUSTOM_ENDPOINTS" in response.get_json()["detail"]
        assert admin.put("/api/v1/kms/aws", json={"region": "us-east-1"}).status_code == 200


class TestSeedVaultUrl:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "AZURE_VAULT_URL": "https://seeded.vault.azure.net"}

    def test_azure_takes_its_vault_url_from_the_seed_variable(self, admin):
        response = admin.put("/api/v1/kms/azure", json={"credentials": {"tenant_id": "t", "client_id": "c",
                                                                          "client_secret": "s"}})
        assert response.status_code == 200 and response.get_json()["vault_url"] == "https://seeded.vault.azure.net"

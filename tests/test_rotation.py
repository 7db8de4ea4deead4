"""Rotating KPS_MASTER_KEY: everything sealed under the old key is re-wrapped."""

import base64
import os

import pytest

from app import create_app


@pytest.fixture
def rotated(app_settings, owner_with_secret, admin):
    """Settings with a new master key and the old one as previous."""
    new_key = base64.b64encode(os.urandom(32)).decode()
    return {**app_settings, "KPS_MASTER_KEY": new_key, "KPS_PREVIOUS_MASTER_KEYS": app_settings["KPS_MASTER_KEY"]}


@pytest.fixture
def owner_with_secret(make_user, admin):
    owner = make_user(kms="local")
    owner.post("/api/v1/secrets", json={"name": "kept", "value": "before-rotation"})
    owner.put("/api/v1/secrets/kept", json={"value": "second-version"})
    admin.put("/api/v1/kms/aws", json={"region": "us-east-1",
                                       "credentials": {"access_key_id": "AKIAROTATE", "secret_access_key": "rotated"}})
    return owner


def _with_app(settings, fn):
    application = create_app(settings)
    try:
        return fn(application)
    finally:
        application.extensions["kps"].close()


def test_rotation_rewraps_data_keys_and_credentials_so_the_old_key_can_go(rotated, owner_with_secret, db):
    old_kids = {v["dek"]["kid"] for doc in db.local_secrets.find() for v in doc["versions"]}
    result = _with_app(rotated, lambda a: a.test_cli_runner().invoke(args=["kps", "rotate-master-key"]))
    assert result.exit_code == 0, result.output
    assert "re-wrapped 2 local data keys and 1 provider credentials" in result.output
    new_kids = {v["dek"]["kid"] for doc in db.local_secrets.find() for v in doc["versions"]}
    assert new_kids.isdisjoint(old_kids)

    only_new = {k: v for k, v in rotated.items() if k != "KPS_PREVIOUS_MASTER_KEYS"}

    def read_back(application):
        client = application.test_client()
        headers = owner_with_secret.headers
        latest = client.get("/api/v1/secrets/kept", headers=headers).get_json()["value"]
        first = client.get("/api/v1/secrets/kept?version=1", headers=headers).get_json()["value"]
        credentials = application.extensions["kps"].provider_configs.get("aws").credentials
        return latest, first, credentials["access_key_id"]

    assert _with_app(only_new, read_back) == ("second-version", "before-rotation", "AKIAROTATE")


def test_without_the_old_key_local_secrets_cannot_be_read_before_rotation(rotated, owner_with_secret):
    only_new = {k: v for k, v in rotated.items() if k != "KPS_PREVIOUS_MASTER_KEYS"}
    status = _with_app(only_new, lambda a: a.test_client().get("/api/v1/secrets/kept",
                                                                headers=owner_with_secret.headers).status_code)
    assert status == 502


def test_credentials_sealed_under_an_unknown_key_are_a_clear_502_not_a_500(rotated, owner_with_secret, make_user):
    only_new = {k: v for k, v in rotated.items() if k != "KPS_PREVIOUS_MASTER_KEYS"}

    def create_in_aws(application):
        client = application.test_client()
        client.patch("/api/v1/auth/me", json={"kms": "aws"}, headers=owner_with_secret.headers)
        return client.post("/api/v1/secrets", json={"name": "n", "value": "v"}, headers=owner_with_secret.headers)

    response = _with_app(only_new, create_in_aws)
    assert response.status_code == 502 and response.mimetype == "application/problem+json"

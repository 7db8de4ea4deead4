"""Accounts: signup, login, refresh, logout, me, password change."""

import pytest

from tests.fixtures.app import PASSWORD, audit_events, login


def test_signup_answers_201_with_the_contract_fields(client):
    response = client.post("/signup", json={"email": "Bob@Example.COM", "password": PASSWORD, "kms_selection": "AWS"})
    assert response.status_code == 201
    body = response.get_json()
    assert body == {"id": body["id"], "email": "bob@example.com", "role": "user", "kms": "aws"}


def test_signup_defaults_to_the_local_provider(client):
    response = client.post("/api/v1/auth/signup", json={"email": "c@example.com", "password": PASSWORD})
    assert response.get_json()["kms"] == "local"


def test_signup_ignores_role_and_unknown_fields(client, db):
    response = client.post("/signup", json={"email": "m@example.com", "password": PASSWORD,
                                            "role": "admin", "org_id": "other", "is_admin": True})
    assert response.get_json()["role"] == "user"
    stored = db.users.find_one({"email": "m@example.com"})
    assert stored["role"] == "user"
    assert "org_id" not in stored and "is_admin" not in stored


def test_duplicate_email_is_409_whatever_its_case(client, user):
    response = client.post("/signup", json={"email": "ALICE@example.com", "password": PASSWORD})
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"


def test_password_is_stored_only_as_a_bcrypt_hash(client, db, user):
    stored = db.users.find_one({"email": user.email})
    assert stored["password_hash"].startswith(b"$2b$")
    assert PASSWORD.encode() not in repr(stored).encode()


@pytest.mark.parametrize("password", ["short", "x" * 11, "y" * 1025])
def test_password_policy_rejects_out_of_bounds_lengths(client, password):
    response = client.post("/signup", json={"email": "p@example.com", "password": password})
    assert response.status_code == 400
    assert "password" in response.get_json()["errors"]


def test_passwords_longer_than_bcrypts_72_bytes_work_and_are_not_truncated(client):
    long_password = "é" * 100  # 200 bytes in UTF-8
    assert client.post("/signup", json={"email": "long@example.com", "password": long_password}).status_code == 201
    assert client.post("/login", json={"email": "long@example.com", "password": long_password}).status_code == 200
    same_prefix = long_password[:40] + "a" * 60
    assert client.post("/login", json={"email": "long@example.com", "password": same_prefix}).status_code == 401


def test_login_returns_access_and_refresh_tokens(client, user):
    body = login(client, user.email)
    assert body["token"] == body["access_token"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token"] != body["access_token"]


def test_login_email_is_case_insensitive(client, user):
    assert client.post("/login", json={"email": "ALICE@EXAMPLE.COM", "password": PASSWORD}).status_code == 200


def test_wrong_password_and_unknown_email_get_the_same_answer(client, user):
    wrong = client.post("/login", json={"email": user.email, "password": "wrong password!!"})
    unknown = client.post("/login", json={"email": "nobody@example.com", "password": "wrong password!!"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json()["detail"] == unknown.get_json()["detail"]


def test_me_returns_the_signed_in_user(user):
    body = user.get("/api/v1/auth/me").get_json()
    assert body["email"] == user.email and body["role"] == "user" and "password_hash" not in body


def test_patch_me_changes_the_provider_selection(user):
    response = user.patch("/api/v1/auth/me", json={"kms": "GCP"})
    assert response.status_code == 200 and response.get_json()["kms"] == "gcp"


def test_refresh_with_the_header_gives_a_working_access_token(client, user):
    response = client.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {user.tokens['refresh_token']}"})
    assert response.status_code == 200
    new = response.get_json()["access_token"]
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_refresh_with_a_json_refresh_token_works(client, user):
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": user.tokens["refresh_token"]})
    assert response.status_code == 200


def test_logout_revokes_the_access_and_the_refresh_token(client, user):
    assert user.post("/api/v1/auth/logout").status_code == 204
    assert user.get("/api/v1/auth/me").status_code == 401
    refresh = client.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {user.tokens['refresh_token']}"})
    assert refresh.status_code == 401


def test_logout_leaves_other_sessions_alone(client, user):
    other = login(client, user.email)
    user.post("/api/v1/auth/logout")
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {other['access_token']}"}).status_code == 200


def test_revocation_survives_a_new_app_on_the_same_database(client, user, app_settings):
    from app import create_app

    user.post("/api/v1/auth/logout")
    second = create_app(app_settings)
    try:
        assert second.test_client().get("/api/v1/auth/me", headers=user.headers).status_code == 401
    finally:
        second.extensions["kps"].close()


def test_password_change_requires_the_current_password(user):
    response = user.post("/api/v1/auth/password", json={"current_password": "not it at all", "new_password": "a new password 123"})
    assert response.status_code == 400


def test_password_change_revokes_sessions_and_the_new_password_works(client, user):
    response = user.post("/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "a new password 123"})
    assert response.status_code == 204
    assert user.get("/api/v1/auth/me").status_code == 401
    assert client.post("/login", json={"email": user.email, "password": PASSWORD}).status_code == 401
    assert client.post("/login", json={"email": user.email, "password": "a new password 123"}).status_code == 200


def test_account_lifecycle_is_audited(client, db, user):
    client.post("/login", json={"email": user.email, "password": "wrong password!!"})
    client.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {user.tokens['refresh_token']}"})
    user.post("/api/v1/auth/logout")
    actions = [(e["action"], e["outcome"]) for e in audit_events(db)]
    for expected in [("auth.signup", "success"), ("auth.login", "success"), ("auth.login", "denied"),
                     ("auth.refresh", "success"), ("auth.logout", "success")]:
        assert expected in actions

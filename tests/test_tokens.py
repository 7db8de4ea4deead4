"""Forged, expired, wrong-type and revoked tokens are all 401 problem+json."""

import base64
import json
from datetime import datetime, timedelta, timezone

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token

from tests.fixtures.app import audit_events


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    return pyjwt.decode(token, options={"verify_signature": False})


def _assert_401(response):
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 401


def test_no_token_is_401(client):
    _assert_401(client.get("/api/v1/auth/me"))


@pytest.mark.parametrize("header", ["Bearer", "Bearer not.a.jwt", "Basic dXNlcjpwYXNz", "Bearer " + "a" * 5000])
def test_malformed_authorization_is_401(client, header):
    _assert_401(client.get("/api/v1/auth/me", headers={"Authorization": header}))


def test_alg_none_token_is_401(client, user):
    claims = _claims(user.tokens["access_token"])
    forged = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    _assert_401(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"}))


def test_token_signed_with_another_key_is_401(client, user):
    forged = pyjwt.encode(_claims(user.tokens["access_token"]), "some-other-key-" * 4, algorithm="HS256")
    _assert_401(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"}))


def test_tampered_payload_is_401(client, user, admin):
    header, _payload, signature = user.tokens["access_token"].split(".")
    claims = _claims(user.tokens["access_token"]) | {"role": "admin", "sub": admin.id}
    _assert_401(client.get("/api/v1/users", headers={"Authorization": f"Bearer {header}.{_b64(claims)}.{signature}"}))


def test_expired_token_is_401(app, client, user):
    claims = _claims(user.tokens["access_token"])
    with app.app_context():
        expired = create_access_token(identity=claims["sub"], additional_claims={"role": "user", "sid": claims["sid"]},
                                      expires_delta=timedelta(seconds=-5))
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {expired}"})
    _assert_401(response)
    assert "expired" in response.get_json()["detail"]


def test_refresh_token_used_as_access_token_is_401(client, user):
    _assert_401(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {user.tokens['refresh_token']}"}))


def test_access_token_used_as_refresh_token_is_401(client, user):
    _assert_401(client.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {user.tokens['access_token']}"}))


def test_token_after_logout_is_401(client, user):
    user.post("/api/v1/auth/logout")
    response = user.get("/api/v1/auth/me")
    _assert_401(response)
    assert "revoked" in response.get_json()["detail"]


def test_a_session_past_its_expiry_is_refused_before_the_ttl_monitor_removes_it(db, user):
    assert user.get("/api/v1/auth/me").status_code == 200
    sid = _claims(user.tokens["access_token"])["sid"]
    db.token_sessions.update_one({"_id": sid}, {"$set": {"expires_at": datetime.now(timezone.utc) - timedelta(seconds=1)}})
    _assert_401(user.get("/api/v1/auth/me"))


def test_a_session_revoked_in_the_database_is_refused_at_once(db, user):
    sid = _claims(user.tokens["access_token"])["sid"]
    db.token_sessions.update_one({"_id": sid}, {"$set": {"revoked_at": datetime.now(timezone.utc)}})
    _assert_401(user.get("/api/v1/auth/me"))


def test_validly_signed_token_for_an_unknown_session_is_401(app, client, user):
    with app.app_context():
        token = create_access_token(identity=user.id, additional_claims={"role": "admin", "sid": "made-up"})
    _assert_401(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}))


def test_tokens_use_a_string_subject_and_carry_role_and_session(user):
    claims = _claims(user.tokens["access_token"])
    assert claims["sub"] == user.id and claims["role"] == "user" and claims["sid"]
    assert claims["exp"] - claims["iat"] == 900


def test_denied_requests_are_audited_without_the_token(client, db, user):
    client.get("/api/v1/auth/me", headers={"Authorization": "Bearer forged.token.here"})
    denied = audit_events(db, action="request.denied")
    assert denied and denied[-1]["status"] == 401 and denied[-1]["actor"] is None
    assert "forged.token.here" not in repr(denied)

"""Lockout after consecutive failed logins, and the per-IP rate limit."""

import pytest

from tests.fixtures.app import PASSWORD, audit_events


@pytest.fixture
def app_settings(app_settings):
    return {**app_settings, "KPS_LOGIN_MAX_FAILURES": "3", "KPS_LOGIN_LOCKOUT_SECONDS": "600"}


def _fail(client, email, times):
    for _ in range(times):
        assert client.post("/login", json={"email": email, "password": "wrong password!!"}).status_code == 401


def test_lockout_answers_429_with_retry_after_even_for_the_right_password(client, user):
    _fail(client, user.email, 3)
    response = client.post("/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert 590 <= int(response.headers["Retry-After"]) <= 600


def test_unknown_emails_lock_out_the_same_way(client):
    _fail(client, "ghost@example.com", 3)
    assert client.post("/login", json={"email": "ghost@example.com", "password": PASSWORD}).status_code == 429


def test_a_success_resets_the_failure_count(client, user):
    _fail(client, user.email, 2)
    assert client.post("/login", json={"email": user.email, "password": PASSWORD}).status_code == 200
    _fail(client, user.email, 2)
    assert client.post("/login", json={"email": user.email, "password": PASSWORD}).status_code == 200


def test_lockout_is_per_account(client, user, make_user):
    other = make_user()
    _fail(client, user.email, 3)
    assert client.post("/login", json={"email": other.email, "password": PASSWORD}).status_code == 200


def test_lockout_is_audited(client, db, user):
    _fail(client, user.email, 3)
    client.post("/login", json={"email": user.email, "password": PASSWORD})
    assert audit_events(db, action="auth.lockout")
    assert audit_events(db, action="auth.login", status=429, outcome="denied")


class TestRateLimit:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "KPS_RATE_LIMIT": "3/minute"}

    def test_public_auth_endpoints_are_rate_limited_per_ip_with_retry_after(self, client, db):
        statuses = [client.post("/login", json={"email": "x@example.com", "password": "p" * 12}).status_code
                    for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        response = client.post("/signup", json={"email": "y@example.com", "password": PASSWORD})
        assert response.status_code == 429
        assert 1 <= int(response.headers["Retry-After"]) <= 61
        assert audit_events(db, action="request.denied", status=429)

    def test_the_limit_is_kept_in_the_database_shared_by_every_worker(self, client, app_settings):
        from app import create_app

        for _ in range(3):
            client.post("/login", json={"email": "x@example.com", "password": "p" * 12})
        other_worker = create_app(app_settings)
        try:
            response = other_worker.test_client().post("/login", json={"email": "x@example.com", "password": "p" * 12})
            assert response.status_code == 429
        finally:
            other_worker.extensions["kps"].close()

    def test_other_ips_are_not_limited(self, client):
        for _ in range(4):
            client.post("/login", json={"email": "x@example.com", "password": "p" * 12})
        response = client.post("/login", json={"email": "z@example.com", "password": "p" * 12},
                               environ_base={"REMOTE_ADDR": "10.9.8.7"})
        assert response.status_code == 401

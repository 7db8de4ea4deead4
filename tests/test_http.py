"""Browsers (CORS), client IPs behind proxies, and a database that goes away."""

import pytest

from app import create_app
from models.embedded import EmbeddedMongo
from tests.fixtures.app import audit_events


class TestCors:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "KPS_CORS_ORIGINS": "https://portal.example.com"}

    def test_the_configured_portal_may_call_with_an_authorization_header(self, client):
        response = client.options("/api/v1/auth/me", headers={
            "Origin": "https://portal.example.com", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization"})
        assert response.headers["Access-Control-Allow-Origin"] == "https://portal.example.com"
        assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
        assert response.headers.get("Access-Control-Allow-Credentials") != "true"

    def test_other_origins_get_no_cors_headers(self, client):
        response = client.get("/healthz", headers={"Origin": "https://evil.example.com"})
        assert "Access-Control-Allow-Origin" not in response.headers


def test_no_cors_headers_by_default(client):
    assert "Access-Control-Allow-Origin" not in client.get("/healthz", headers={"Origin": "https://a.example"}).headers


def test_a_forwarded_for_header_is_ignored_without_trusted_proxies(client, db):
    client.post("/login", json={"email": "x@example.com", "password": "wrong password!"},
                headers={"X-Forwarded-For": "203.0.113.9"})
    assert audit_events(db, action="auth.login")[-1]["ip"] == "127.0.0.1"


class TestTrustedProxy:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "KPS_TRUSTED_PROXIES": "1"}

    def test_the_client_ip_comes_from_the_trusted_proxy(self, client, db):
        client.post("/login", json={"email": "x@example.com", "password": "wrong password!"},
                    headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
        assert audit_events(db, action="auth.login")[-1]["ip"] == "203.0.113.9"


def test_requests_answer_503_when_the_database_goes_away(app_settings, make_user):
    server = EmbeddedMongo(None)
    uri = server.start()
    application = create_app({**app_settings, "MONGO_URI": uri})
    try:
        client = application.test_client()
        assert client.post("/signup", json={"email": "d@example.com", "password": "p" * 12}).status_code == 201
        server.stop()
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.mimetype == "application/problem+json"
        response = client.post("/login", json={"email": "d@example.com", "password": "p" * 12})
        assert response.status_code == 503 and "Retry-After" in response.headers
    finally:
        application.extensions["kps"].close()

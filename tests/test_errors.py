"""Bad input, as an attacker sends it: clear problem+json, the right status, never a 500."""

import json

import pytest

from tests.fixtures.app import PASSWORD


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["detail"] == body["error"]
    assert {"type", "title", "request_id"} <= body.keys()
    return body


@pytest.mark.parametrize("email", [{"$ne": None}, ["a@example.com"], 5, None, True, {"$gt": ""}])
def test_operators_and_wrong_types_in_login_are_400(client, user, email):
    body = _problem(client.post("/login", json={"email": email, "password": PASSWORD}), 400)
    assert "email" in body["errors"]


def test_operator_in_password_is_400(client, user):
    _problem(client.post("/login", json={"email": user.email, "password": {"$ne": None}}), 400)


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@b.com", "a" * 400 + "@example.com"])
def test_invalid_emails_are_400(client, email):
    _problem(client.post("/signup", json={"email": email, "password": PASSWORD}), 400)


def test_unknown_kms_is_400(client):
    _problem(client.post("/signup", json={"email": "k@example.com", "password": PASSWORD, "kms": "vault"}), 400)


def test_malformed_json_is_400(client):
    _problem(client.post("/login", data='{"email": ', content_type="application/json"), 400)


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "42", "null"])
def test_json_that_is_not_an_object_is_400(client, body):
    _problem(client.post("/login", data=body, content_type="application/json"), 400)


def test_non_json_body_is_415(client):
    _problem(client.post("/login", data="email=a&password=b", content_type="application/x-www-form-urlencoded"), 415)


def test_empty_body_where_fields_are_required_is_400(client):
    _problem(client.post("/login"), 400)


def test_empty_body_where_none_is_needed_is_fine(user):
    assert user.post("/api/v1/auth/logout").status_code == 204


def test_body_over_64_kib_is_413(client):
    _problem(client.post("/signup", data=b'{"email": "' + b"a" * 70000 + b'"}', content_type="application/json"), 413)


def test_unknown_path_is_404_problem(client):
    _problem(client.get("/no/such/thing"), 404)


def test_wrong_method_is_405_problem(client):
    body = _problem(client.get("/login"), 405)
    assert body["title"] == "Method Not Allowed"


def test_unexpected_exceptions_are_a_generic_500(app, client):
    @app.route("/boom")
    def boom():
        raise RuntimeError("internal detail with a secret-ish value")

    body = _problem(client.get("/boom"), 500)
    assert "secret-ish" not in body["detail"] and "Traceback" not in client.get("/boom").get_data(as_text=True)


def test_every_response_has_nosniff_and_a_request_id(client, user):
    for response in (client.get("/healthz"), client.get("/nope"), user.get("/api/v1/auth/me")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Request-ID"]


def test_a_sent_request_id_is_honoured_and_a_bad_one_replaced(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    assert client.get("/healthz", headers={"X-Request-ID": "bad id <script>"}).headers["X-Request-ID"] != "bad id <script>"


def test_error_bodies_carry_the_request_id(client):
    response = client.get("/nope", headers={"X-Request-ID": "trace-1"})
    assert response.get_json()["request_id"] == "trace-1"


def test_authenticated_responses_are_not_cached(user):
    assert user.get("/api/v1/auth/me").headers["Cache-Control"] == "no-store"


def test_health_and_readiness(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").get_json()["database"] == "ok"


@pytest.mark.parametrize("field", ["email", "password"])
def test_lone_surrogates_in_json_are_400_not_500(client, field):
    body = {"email": "s@example.com", "password": PASSWORD}
    raw = json.dumps(body).replace(json.dumps(body[field]), '"\\ud800abc"')
    _problem(client.post("/signup", data=raw, content_type="application/json"), 400)

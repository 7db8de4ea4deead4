"""Per-request plumbing: request ids, body checks and response headers."""

from __future__ import annotations

import re
import uuid

from flask import Flask, g, request

from common.errors import BadRequest, UnsupportedMediaType

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
BODY_METHODS = {"POST", "PUT", "PATCH"}


def assign_request_id() -> None:
    sent = request.headers.get("X-Request-ID", "")
    g.request_id = sent if REQUEST_ID.match(sent) else uuid.uuid4().hex


def check_json_body() -> None:
    """415 for a non-empty body that is not JSON; 400 for malformed JSON or a non-object."""
    if request.method not in BODY_METHODS:
        return
    body = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH
    if not body.strip():
        return
    if not request.is_json:
        raise UnsupportedMediaType()
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest("The request body is not valid JSON.", reason="malformed-json")
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.", reason="malformed-json")


def secure_headers(response):
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Request-ID"] = getattr(g, "request_id", "")
    if not request.path.startswith("/docs"):
        response.headers["Cache-Control"] = "no-store"
        response.headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def register_request_hooks(app: Flask) -> None:
    app.before_request(assign_request_id)
    app.before_request(check_json_body)
    app.after_request(secure_headers)

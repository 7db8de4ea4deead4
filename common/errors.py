"""One error vocabulary and one problem+json renderer (RFC 9457).

Views and services raise ``ApiError`` subclasses; routing errors, flask-smorest
validation errors, JWT failures, rate limits and unexpected exceptions all end in
``problem()``, so every error looks alike. A 500 logs its traceback server-side
and says nothing more to the client.
"""

from __future__ import annotations

import logging
import time
from http import HTTPStatus
from typing import Any

from flask import Flask, g, jsonify
from pymongo.errors import ConnectionFailure, ExecutionTimeout, WTimeoutError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://keyproxy.dev/problems/"


class ApiError(Exception):
    status = 500
    slug = "internal-error"
    default_detail = "The server could not complete the request."

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None,
                 reason: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(detail or self.default_detail)
        self.detail = detail or self.default_detail
        self.retry_after = retry_after
        self.reason = reason or self.slug  # a short code for audit events
        self.extra = extra or {}


class BadRequest(ApiError):
    status, slug, default_detail = 400, "bad-request", "The request is not valid."


class Unauthorized(ApiError):
    status, slug, default_detail = 401, "unauthorized", "Authentication is required."


class Forbidden(ApiError):
    status, slug, default_detail = 403, "forbidden", "You are not allowed to do this."


class NotFound(ApiError):
    status, slug, default_detail = 404, "not-found", "No such resource."


class Conflict(ApiError):
    status, slug, default_detail = 409, "conflict", "The request conflicts with the current state."


class PayloadTooLarge(ApiError):
    status, slug, default_detail = 413, "payload-too-large", "The request is too large."


class UnsupportedMediaType(ApiError):
    status, slug, default_detail = 415, "unsupported-media-type", "The request body must be JSON (application/json)."


class TooManyRequests(ApiError):
    status, slug, default_detail = 429, "too-many-requests", "Too many attempts; try again later."


class BadGateway(ApiError):
    status, slug, default_detail = 502, "provider-failed", "The secret provider failed."


class ServiceUnavailable(ApiError):
    status, slug, default_detail = 503, "unavailable", "The service is temporarily unavailable."


class GatewayTimeout(ApiError):
    status, slug, default_detail = 504, "provider-timeout", "The secret provider did not answer in time."


def problem(status: int, detail: str, *, slug: str | None = None, title: str | None = None,
            retry_after: float | None = None, extra: dict[str, Any] | None = None):
    """The one place a problem+json response is built."""
    title = title or HTTPStatus(status).phrase
    body = {
        "type": PROBLEM_TYPE_BASE + (slug or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail,
        "error": detail,
        "request_id": getattr(g, "request_id", None),
        **(extra or {}),
    }
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    return response


def render_api_error(error: ApiError):
    g.error_reason = error.reason
    return problem(error.status, error.detail, slug=error.slug,
                   retry_after=error.retry_after, extra=error.extra)


_HTTP_DETAILS = {
    400: "The request is not valid.",
    404: "No such resource.",
    405: "This method is not allowed on this resource.",
    413: "The request body is larger than the limit.",
    415: "The request body must be JSON (application/json).",
    429: "Too many requests; slow down.",
}


def render_http_exception(error: HTTPException):
    status = error.code or 500
    if status >= 500:
        return render_unexpected(error)
    extra = {}
    retry_after = None
    messages = (getattr(error, "data", None) or {}).get("messages")
    if messages:  # flask-smorest/webargs validation: say which fields were wrong
        extra["errors"] = messages.get("json", messages) if isinstance(messages, dict) else messages
        status = 400
    if status == 429:
        retry_after = _rate_limit_reset()
    detail = _HTTP_DETAILS.get(status, HTTPStatus(status).phrase)
    if status == 400 and messages:
        detail = "The request has fields that are missing or not valid."
    g.error_reason = HTTPStatus(status).phrase.lower().replace(" ", "-")
    response = problem(status, detail, retry_after=retry_after, extra=extra)
    if status == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _rate_limit_reset() -> float:
    """Seconds until the exceeded rate-limit window resets."""
    from common.extensions import limiter

    current = limiter.current_limit
    return max(1.0, current.reset_at - time.time()) if current else 60.0


def render_database_error(error: Exception):
    log.error("database error: %s", type(error).__name__)
    g.error_reason = "database-unavailable"
    return problem(503, "The database is unavailable; try again shortly.", slug="database-unavailable",
                   retry_after=5)


def render_unexpected(error: Exception):
    log.exception("unhandled error", exc_info=error)
    g.error_reason = "internal-error"
    return problem(500, "The server could not complete the request.", slug="internal-error")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, render_api_error)
    app.register_error_handler(HTTPException, render_http_exception)
    for database_down in (ConnectionFailure, ExecutionTimeout, WTimeoutError):
        app.register_error_handler(database_down, render_database_error)
    app.register_error_handler(Exception, render_unexpected)

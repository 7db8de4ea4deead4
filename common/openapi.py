"""OpenAPI helpers: documented error responses and the bearer security scheme."""

from __future__ import annotations

from http import HTTPStatus

import swagger_ui_bundle
from flask import Flask, send_from_directory

from common.extensions import api

AUTH_ERRORS = (401,)
ALWAYS = (500, 503)


def errors(*statuses: int):
    """Document these problem+json responses (and 500, 503, which any view may answer)."""

    def decorator(view):
        doc = getattr(view, "_apidoc", {})
        responses = doc.setdefault("manual_doc", {}).setdefault("responses", {})
        for status in sorted(set(statuses) | set(ALWAYS)):
            responses[status] = HTTPStatus(status).name  # a lazily registered problem+json response
        view._apidoc = doc
        return view

    return decorator


def secured(*statuses: int):
    """Document that the view needs a bearer token, and its error responses."""

    def decorator(view):
        view = errors(*AUTH_ERRORS, *statuses)(view)
        view._apidoc.setdefault("manual_doc", {})["security"] = [{"bearerAuth": []}]
        return view

    return decorator


def register_openapi(app: Flask) -> None:
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    static = swagger_ui_bundle.swagger_ui_path

    @app.route("/docs/static/<path:filename>")
    def swagger_static(filename):
        return send_from_directory(static, filename)


def openapi_config(app: Flask) -> None:
    app.config.update(
        API_TITLE="KeyProxy",
        API_VERSION="1.0.0",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/docs/static/",
    )

"""KeyProxy: the application factory and the `python app.py` entry point."""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Any, Mapping

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from audit.hooks import register_audit_hooks
from audit.routes import bp as audit_bp
from auth.routes import bp as auth_bp
from auth.schemas import normalise_email
from auth.service import ensure_admin
from auth.tokens import configure_jwt
from common.cli import cli
from common.config import load_settings
from common.errors import register_error_handlers
from common.extensions import api, cors, limiter
from common.health import bp as health_bp
from common.http import register_request_hooks
from common.logs import configure_logging, register_request_logging
from common.metrics import register_metrics
from common.openapi import openapi_config, register_openapi
from common.services import Services
from kms.config_routes import bp as kms_bp
from kms.secrets_routes import bp as secrets_bp
from kms.secrets_service import RECONCILE_AFTER_SECONDS, reconcile
from models.db import open_database

MAX_BODY_BYTES = 64 * 1024


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    settings = load_settings(overrides)
    configure_logging()
    register_services(app, settings)
    register_extensions(app, settings)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    run_startup_tasks(app)
    return app


def register_services(app: Flask, settings) -> None:
    client, db, embedded = open_database(settings)
    services = Services.build(settings, client, db, embedded)
    app.extensions["kps"] = services
    if embedded is not None:
        atexit.register(services.close)


def register_extensions(app: Flask, settings) -> None:
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["RATELIMIT_STORAGE_URI"] = _limiter_storage(app.extensions["kps"])
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"database_name": f"{settings.mongo_db}_ratelimits"}
    app.config["RATELIMIT_SWALLOW_ERRORS"] = True
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)
    openapi_config(app)
    api.init_app(app)
    register_openapi(app)
    configure_jwt(app, settings)
    limiter.init_app(app)
    # Connect the limiter's storage now and close it at exit: its destructor would
    # otherwise open or close a client while the interpreter shuts down.
    atexit.register(limiter.storage.storage.close)
    if settings.cors_origins:
        cors.init_app(app, origins=list(settings.cors_origins), allow_headers=["Authorization", "Content-Type"],
                      expose_headers=["X-Request-ID", "Retry-After"], supports_credentials=False)
    register_request_hooks(app)
    register_metrics(app)
    register_request_logging(app)
    register_audit_hooks(app)


def _limiter_storage(services) -> str:
    """flask-limiter keeps counters in the same MongoDB, so every worker shares them."""
    uri = services.settings.mongo_uri or services.embedded.uri
    separator = "&" if "?" in uri else "?"
    return f"{uri}{separator}serverSelectionTimeoutMS=3000"


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(health_bp)
    for blueprint in (auth_bp, secrets_bp, kms_bp, audit_bp):
        api.register_blueprint(blueprint)


def register_errorhandlers(app: Flask) -> None:
    register_error_handlers(app)


def register_commands(app: Flask) -> None:
    app.cli.add_command(cli)


def run_startup_tasks(app: Flask) -> None:
    services = app.extensions["kps"]
    services.ensure_indexes()
    settings = services.settings
    if settings.bootstrap_admin_email and settings.bootstrap_admin_password:
        with app.test_request_context():
            ensure_admin(normalise_email(settings.bootstrap_admin_email), settings.bootstrap_admin_password)
    if services.secret_refs.stale(RECONCILE_AFTER_SECONDS):
        threading.Thread(target=_reconcile, args=(app,), name="reconcile", daemon=True).start()


def _reconcile(app: Flask) -> None:
    with app.test_request_context():
        logging.getLogger("keyproxy").info("startup reconcile: %s", reconcile())


if __name__ == "__main__":
    from common.server import serve

    serve()

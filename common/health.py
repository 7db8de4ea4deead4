"""Liveness and readiness."""

from flask import Blueprint, current_app
from pymongo.errors import PyMongoError

from common.errors import problem

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    try:
        current_app.extensions["kps"].db.command("ping")
    except PyMongoError:
        return problem(503, "The database does not answer.", slug="not-ready", retry_after=5)
    return {"status": "ready", "database": "ok"}

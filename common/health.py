"""Liveness and readiness."""

from flask import Blueprint, current_app
from pymongo.errors import PyMongoError

from audit.log import AuditUnavailable, record
from common.errors import problem

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is alive and serving."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Ready when the database answers and the audit log is writable. Providers are
    reported (their last observed outcome) but never fail readiness: one cloud's
    outage must not take the proxy out of a load balancer for the others."""
    kps = current_app.extensions["kps"]
    try:
        kps.db.command("ping")
    except PyMongoError:
        return problem(503, "The database does not answer.", slug="not-ready", retry_after=5)
    if not kps.audit.healthy:  # the last write failed: probe with a real one
        try:
            record("service.audit_probe", "success", 200)
        except AuditUnavailable:
            return problem(503, "The audit log cannot be written.", slug="not-ready", retry_after=5)
    return {"status": "ready", "database": "ok", "audit": "ok", "providers": kps.stores.health()}

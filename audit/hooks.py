"""Every denied request (401, 403, 429) leaves an audit event, even when no view ran."""

from flask import Flask, g, request

from audit.log import AuditUnavailable, record
from common.errors import render_api_error

DENIED = {401, 403, 429}


def audit_denied(response):
    if response.status_code in DENIED and not getattr(g, "audited", False):
        try:
            record("request.denied", "denied", response.status_code,
                   target={"type": "route", "name": f"{request.method} {request.path[:200]}"},
                   reason=getattr(g, "error_reason", None))
        except AuditUnavailable as error:
            return render_api_error(error)
    return response


def register_audit_hooks(app: Flask) -> None:
    app.after_request(audit_denied)

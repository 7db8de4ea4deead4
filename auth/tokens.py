"""JWT access and refresh tokens, their checks, and the role decorator.

Tokens are HS256 JWTs (flask-jwt-extended) with ``sub`` the user id, ``role`` and
``sid``, the token session they belong to (models.token_sessions). Every failure
of a token is a 401 problem+json, never flask-jwt-extended's default 422.
"""

from __future__ import annotations

from datetime import timedelta
from functools import wraps

from flask import Flask, current_app, g
from flask_jwt_extended import create_access_token, create_refresh_token, verify_jwt_in_request

from common.errors import Forbidden, problem
from common.extensions import jwt


def configure_jwt(app: Flask, settings) -> None:
    app.config.update(
        JWT_SECRET_KEY=settings.jwt_secret_key,
        JWT_ALGORITHM="HS256",
        JWT_DECODE_ALGORITHMS=["HS256"],
        JWT_TOKEN_LOCATION=["headers"],
        JWT_REFRESH_JSON_KEY="refresh_token",
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(seconds=settings.access_token_seconds),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(seconds=settings.refresh_token_seconds),
    )
    jwt.init_app(app)


def _denied(detail: str, reason: str):
    g.error_reason = reason
    return problem(401, detail, slug="unauthorized")


@jwt.token_in_blocklist_loader
def _session_revoked(_header, payload) -> bool:
    session = current_app.extensions["kps"].sessions.active(str(payload.get("sid", "")))
    if session is None or session.user_id != payload.get("sub"):
        return True
    g.actor = session
    return False


@jwt.unauthorized_loader
def _missing(_reason):
    return _denied("Authentication is required: send 'Authorization: Bearer <access token>'.", "missing-token")


@jwt.invalid_token_loader
def _invalid(_reason):
    return _denied("The token is not valid.", "invalid-token")


@jwt.expired_token_loader
def _expired(_header, _payload):
    return _denied("The token has expired.", "expired-token")


@jwt.revoked_token_loader
def _revoked(_header, _payload):
    return _denied("The token has been revoked.", "revoked-token")


@jwt.user_lookup_error_loader
def _lookup_failed(_header, _payload):
    return _denied("The token is not valid.", "invalid-token")


def issue_access_token(session) -> dict:
    access = create_access_token(identity=session.user_id, additional_claims={"role": session.role, "sid": session.id})
    return {"access_token": access, "token": access, "token_type": "Bearer",
            "expires_in": current_app.extensions["kps"].settings.access_token_seconds}


def issue_tokens(session) -> dict:
    """An access and a refresh token, both bound to ``session``."""
    refresh = create_refresh_token(identity=session.user_id, additional_claims={"role": session.role, "sid": session.id})
    return {**issue_access_token(session), "refresh_token": refresh}


def authenticated(*roles: str, refresh: bool = False):
    """Require a valid, unrevoked token (an access token unless ``refresh``), and one
    of ``roles`` when given. Sets ``g.actor``."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            verify_jwt_in_request(refresh=refresh, locations=["headers", "json"] if refresh else None)
            if roles and g.actor.role not in roles:
                raise Forbidden(f"This requires the {' or '.join(roles)} role.", reason="role-required")
            return view(*args, **kwargs)

        return wrapper

    return decorator

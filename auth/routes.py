"""Signup, login and tokens (original paths and /api/v1/auth), and user administration."""

from flask import current_app

from auth import service
from auth.schemas import (LoginSchema, PasswordChangeSchema, RefreshSchema, SignupResponse, SignupSchema,
                          TokenResponse, UpdateMeSchema, UserListResponse, UserSchema, UserUpdateSchema)
from auth.tokens import authenticated
from common.extensions import Blueprint, limiter
from common.openapi import errors, secured
from common.schemas import PageArgs

bp = Blueprint("auth", __name__, description="Accounts, tokens and users")


def _rate_limit():
    return current_app.extensions["kps"].settings.rate_limit


public_limit = limiter.shared_limit(_rate_limit, scope="auth-public")


@bp.route("/signup", methods=["POST"])
@bp.route("/api/v1/auth/signup", methods=["POST"])
@public_limit
@errors(400, 409, 413, 415, 429)
@bp.arguments(SignupSchema)
@bp.response(201, SignupResponse)
def signup(body):
    """Create a user account (role `user`)."""
    user = service.signup(body["email"], body["password"], body["kms"])
    return {"id": user.id, "email": user.email, "role": user.role, "kms": user.kms}


@bp.route("/login", methods=["POST"])
@bp.route("/api/v1/auth/login", methods=["POST"])
@public_limit
@errors(400, 401, 413, 415, 429)
@bp.arguments(LoginSchema)
@bp.response(200, TokenResponse)
def login(body):
    """Exchange email and password for an access and a refresh token."""
    return service.login(body["email"], body["password"])


@bp.route("/api/v1/auth/refresh", methods=["POST"])
@public_limit
@secured(401, 429)
@authenticated(refresh=True)
@bp.arguments(RefreshSchema)
@bp.response(200, TokenResponse)
def refresh(_body):
    """A new access token for a refresh token (in the Authorization header or as `refresh_token`)."""
    return service.refresh()


@bp.route("/api/v1/auth/logout", methods=["POST"])
@secured()
@authenticated()
@bp.response(204)
def logout():
    """Revoke the presented access token and its refresh token."""
    service.logout()


@bp.route("/api/v1/auth/me", methods=["GET"])
@secured()
@authenticated()
@bp.response(200, UserSchema)
def me():
    """The signed-in user."""
    return service.current_user().public()


@bp.route("/api/v1/auth/me", methods=["PATCH"])
@secured(400)
@authenticated()
@bp.arguments(UpdateMeSchema)
@bp.response(200, UserSchema)
def update_me(body):
    """Change the provider new secrets go to (`kms`)."""
    return service.update_me(body["kms"]).public()


@bp.route("/api/v1/auth/password", methods=["POST"])
@secured(400)
@authenticated()
@bp.arguments(PasswordChangeSchema)
@bp.response(204)
def change_password(body):
    """Change the password; every session of the user is revoked."""
    service.change_password(body["current_password"], body["new_password"])


@bp.route("/api/v1/users", methods=["GET"])
@secured(400, 403)
@authenticated("admin")
@bp.arguments(PageArgs, location="query")
@bp.response(200, UserListResponse)
def list_users(args):
    """Every user (admin)."""
    return service.list_users(args["limit"], args["cursor"])


@bp.route("/api/v1/users/<string:user_id>", methods=["PATCH"])
@secured(400, 403, 404, 409)
@authenticated("admin")
@bp.arguments(UserUpdateSchema)
@bp.response(200, UserSchema)
def update_user(body, user_id):
    """Change a user's role or disable them (admin); their tokens stop working at once."""
    return service.update_user(user_id, body).public()

"""Accounts and sessions: what the auth and users views call."""

from __future__ import annotations

from flask import current_app, g

from audit.log import record
from auth.tokens import issue_access_token, issue_tokens
from common.errors import BadRequest, Conflict, NotFound, TooManyRequests, Unauthorized
from common.metrics import LOCKOUTS, LOGIN_FAILURES
from models.users import EmailTaken, User

WRONG_CREDENTIALS = "The email or password is wrong."


def _kps():
    return current_app.extensions["kps"]


def signup(email: str, password: str, kms: str, role: str = "user", *, audit: bool = True) -> User:
    kps = _kps()
    try:
        user = kps.users.create(email, kps.hasher.hash(password), role=role, kms=kms)
    except EmailTaken:
        if audit:
            record("auth.signup", "failure", 409, target={"type": "user", "name": email}, reason="email-taken")
        raise Conflict("An account with this email already exists.", reason="email-taken") from None
    if audit:
        record("auth.signup", "success", 201, target={"type": "user", "name": user.id},
               actor={"id": user.id, "email": user.email, "role": user.role})
    return user


def login(email: str, password: str) -> dict:
    kps = _kps()
    target = {"type": "user", "name": email}
    locked = kps.attempts.locked_for(email)
    if locked:
        record("auth.login", "denied", 429, target=target, reason="locked-out")
        raise TooManyRequests("Too many failed logins; try again later.", retry_after=locked, reason="locked-out")
    user = kps.users.by_email(email)
    if not kps.hasher.verify(password, user.password_hash if user else None) or user.disabled:
        lockout = kps.attempts.failed(email)
        reason = "account-disabled" if user and user.disabled else "wrong-credentials"
        LOGIN_FAILURES.inc()
        if lockout:
            LOCKOUTS.inc()
            record("auth.lockout", "denied", 401, target=target, reason="too-many-failures")
        record("auth.login", "denied", 401, target=target, reason=reason)
        raise Unauthorized(WRONG_CREDENTIALS, reason=reason)
    kps.attempts.succeeded(email)
    session = kps.sessions.open(user.id, user.email, user.role, kps.settings.refresh_token_seconds)
    g.actor = session
    record("auth.login", "success", 200, target={"type": "user", "name": user.id})
    return issue_tokens(session)


def refresh() -> dict:
    record("auth.refresh", "success", 200, target={"type": "session", "name": g.actor.id})
    return issue_access_token(g.actor)


def logout() -> None:
    _kps().sessions.revoke(g.actor.id)
    record("auth.logout", "success", 204, target={"type": "session", "name": g.actor.id})


def current_user() -> User:
    user = _kps().users.by_id(g.actor.user_id)
    if user is None:
        raise Unauthorized("The token is not valid.", reason="invalid-token")
    return user


def update_me(kms: str) -> User:
    user = _kps().users.update(g.actor.user_id, kms=kms)
    record("user.update", "success", 200, target={"type": "user", "name": g.actor.user_id})
    return user


def change_password(current: str, new: str) -> None:
    kps = _kps()
    user = current_user()
    if not kps.hasher.verify(current, user.password_hash):
        record("auth.password_change", "denied", 400, target={"type": "user", "name": user.id},
               reason="wrong-password")
        raise BadRequest("The current password is wrong.", reason="wrong-password")
    kps.users.update(user.id, password_hash=kps.hasher.hash(new))
    kps.sessions.revoke_all(user.id)  # every session, this one included: log in again
    record("auth.password_change", "success", 204, target={"type": "user", "name": user.id})


def update_user(user_id: str, changes: dict) -> User:
    """An admin changes a user's role or disables them; their tokens stop at once."""
    kps = _kps()
    if not changes:
        raise BadRequest("Send `role` and/or `disabled`.", reason="empty-update")
    if user_id == g.actor.user_id:
        raise Conflict("Admins cannot change their own role or disable themselves.", reason="self-update")
    user = kps.users.update(user_id, **changes)
    if user is None:
        raise NotFound("No such user.")
    revoked = kps.sessions.revoke_all(user.id)
    for field, value in changes.items():
        action = "user.role_change" if field == "role" else ("user.disable" if value else "user.enable")
        record(action, "success", 200, target={"type": "user", "name": user.id},
               reason=f"{field}={value}; sessions revoked={revoked}")
    return user


def list_users(limit: int, cursor: str | None) -> dict:
    users = _kps().users.page(limit, after=cursor)
    return {"users": [u.public() for u in users],
            "next_cursor": users[-1].id if len(users) == limit else None}


def ensure_admin(email: str, password: str) -> bool:
    """Create this admin unless a user with the email exists; never changes one."""
    kps = _kps()
    if kps.users.by_email(email):
        return False
    try:
        kps.users.create(email, kps.hasher.hash(password), role="admin")
    except EmailTaken:  # another worker created it at the same moment
        return False
    record("user.bootstrap_admin", "success", 201, target={"type": "user", "name": email},
           actor={"id": None, "email": "system", "role": "system"})
    return True

"""`flask --app app kps ...`: operator commands."""

import click
from flask import current_app
from flask.cli import AppGroup
from marshmallow import ValidationError

from audit import service as audit_service
from audit.log import record
from auth.passwords import MAX_LENGTH, MIN_LENGTH
from auth.schemas import normalise_email
from auth.service import ensure_admin
from kms.providers import local
from kms.secrets_service import reconcile as reconcile_references

cli = AppGroup("kps", help="KeyProxy operator commands.")


@cli.command("create-admin")
@click.argument("email")
@click.password_option("--password", help="The new admin's password (asked for when omitted).")
def create_admin(email, password):
    """Create an admin account EMAIL (never changes an existing user)."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise click.BadParameter(f"must be {MIN_LENGTH} to {MAX_LENGTH} characters", param_hint="password")
    try:
        email = normalise_email(email)
    except ValidationError:
        raise click.BadParameter("not a valid email address", param_hint="EMAIL") from None
    with current_app.test_request_context():
        created = ensure_admin(email, password)
    if not created:
        raise click.ClickException(f"a user {email} already exists; nothing changed")
    click.echo(f"admin {email} created")


@cli.command("reconcile")
@click.option("--older-than", default=120.0, show_default=True,
              help="Only references left pending or deleting for longer than this many seconds.")
def reconcile(older_than):
    """Finish or remove secret references left half done by a crash."""
    with current_app.test_request_context():
        done = reconcile_references(older_than)
    click.echo(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in done.items()))
    if done["failed"]:
        raise SystemExit(1)


@cli.group("audit")
def audit_group():
    """The audit log: verify the chain, export events."""


@audit_group.command("verify")
@click.option("--head", default=None, help="SEQ:HASH from an earlier verify, to detect deleted newest events.")
def audit_verify(head):
    """Check every event's HMAC and link; exits 1 naming the first bad event."""
    with current_app.test_request_context():
        result = audit_service.verify(audit_service.parse_head(head), audit=False)
    if result["valid"]:
        click.echo(f"valid: {result['checked']} events checked; head {result['head']}")
        return
    click.echo(f"INVALID: first bad event {result['first_bad']} after {result['checked']} good events", err=True)
    raise SystemExit(1)


@audit_group.command("export")
@click.option("--action")
@click.option("--actor")
@click.option("--outcome", type=click.Choice(["success", "denied", "failure"]))
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]))
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]))
def audit_export(**filters):
    """Write matching events as NDJSON to stdout, newest first (for a SIEM)."""
    with current_app.test_request_context():
        for line in audit_service.export(filters):
            click.echo(line, nl=False)


@cli.command("rotate-master-key")
def rotate_master_key():
    """Re-wrap every local data key and provider credential under the current KPS_MASTER_KEY.

    First set KPS_MASTER_KEY to the new key and KPS_PREVIOUS_MASTER_KEYS to the old
    one(s). Secret values are not touched. Keep the old keys in
    KPS_PREVIOUS_MASTER_KEYS afterwards if you need to verify audit events written
    before the rotation (their HMACs are keyed from the master key of their time).
    """
    kps = current_app.extensions["kps"]
    with current_app.test_request_context():
        data_keys = local.rewrap_all(kps.db, kps.keyring)
        credentials = kps.provider_configs.rewrap_all()
        record("kms.rotate_master_key", "success", None, target={"type": "master_key", "name": kps.keyring.current_kid},
               reason=f"data keys re-wrapped={data_keys}, credentials re-encrypted={credentials}",
               actor={"id": None, "email": "system", "role": "system"})
    click.echo(f"re-wrapped {data_keys} local data keys and {credentials} provider credentials "
               f"under key {kps.keyring.current_kid}")

"""`flask --app app kps ...`: operator commands."""

import click
from flask import current_app
from flask.cli import AppGroup

from auth.passwords import MAX_LENGTH, MIN_LENGTH

cli = AppGroup("kps", help="KeyProxy operator commands.")


@cli.command("create-admin")
@click.argument("email")
@click.password_option("--password", help="The new admin's password (asked for when omitted).")
def create_admin(email, password):
    """Create an admin account EMAIL (never changes an existing user)."""
    from auth.schemas import normalise_email
    from auth.service import ensure_admin
    from marshmallow import ValidationError

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
    from kms.secrets_service import reconcile as run

    with current_app.test_request_context():
        done = run(older_than)
    click.echo(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in done.items()))
    if done["failed"]:
        raise SystemExit(1)

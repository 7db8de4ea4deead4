"""`flask --app app kps ...` commands."""

from tests.fixtures.app import PASSWORD


def test_create_admin_makes_an_admin_who_can_log_in(runner, client, db):
    result = runner.invoke(args=["kps", "create-admin", "Ops@Example.com"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert db.users.find_one({"email": "ops@example.com"})["role"] == "admin"
    assert client.post("/login", json={"email": "ops@example.com", "password": PASSWORD}).status_code == 200


def test_create_admin_never_changes_an_existing_user(runner, db, user):
    before = db.users.find_one({"email": user.email})
    result = runner.invoke(args=["kps", "create-admin", user.email, "--password", "another password 1"])
    assert result.exit_code != 0 and "already exists" in result.output
    assert db.users.find_one({"email": user.email}) == before


def test_create_admin_enforces_the_password_policy(runner, db):
    result = runner.invoke(args=["kps", "create-admin", "x@example.com", "--password", "short"])
    assert result.exit_code != 0
    assert db.users.find_one({"email": "x@example.com"}) is None


def test_kps_help_lists_commands(runner):
    result = runner.invoke(args=["kps", "--help"])
    assert "create-admin" in result.output


import pytest


@pytest.mark.parametrize("command", [["create-admin"], ["rotate-master-key"], ["reconcile"], ["audit", "verify"],
                                     ["audit", "export"]])
def test_every_command_has_help(runner, command):
    result = runner.invoke(args=["kps", *command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output and len(result.output.splitlines()) > 3

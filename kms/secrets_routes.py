"""Secrets: the original endpoints and /api/v1/secrets."""

from auth.tokens import authenticated
from common.errors import BadRequest
from common.extensions import Blueprint
from common.openapi import secured
from common.schemas import PageArgs
from kms import secrets_service as service
from kms.schemas import (NAME_RULE, CreateSecretSchema, GetSecretSchema, LegacySecretList, LegacySecretValue, SecretCreated,
                         SecretList, SecretValueResponse, UpdateSecretSchema, VersionArgs, VersionList)

bp = Blueprint("secrets", __name__, description="Secrets: values live only in the provider")

PROVIDER_ERRORS = (502, 503, 504)
NAME = "<string(maxlength=200):name>"


@bp.route("/create-secret", methods=["POST"], endpoint="legacy_create")
@bp.route("/api/v1/secrets", methods=["POST"])
@secured(400, 409, 413, 415, *PROVIDER_ERRORS)
@authenticated()
@bp.arguments(CreateSecretSchema)
@bp.response(201, SecretCreated)
def create(body):
    """Create a secret in the caller's selected provider."""
    return service.create(body["name"], body["value"], body["description"])


@bp.route("/get-all-secrets", methods=["GET"])
@secured()
@authenticated()
@bp.response(200, LegacySecretList)
def get_all():
    """Every secret of the caller, with values (original endpoint)."""
    return service.read_all()


@bp.route("/get-secret", methods=["POST"])
@secured(400, 404, 409, 415, *PROVIDER_ERRORS)
@authenticated()
@bp.arguments(GetSecretSchema)
@bp.response(200, LegacySecretValue)
def get_one(body):
    """One secret's value (original endpoint)."""
    secret = service.read(body["name"], body["version"])
    return {"name": secret["name"], "secret": secret["value"], "version": secret["version"]}


@bp.route("/api/v1/secrets", methods=["GET"])
@secured(400)
@authenticated()
@bp.arguments(PageArgs, location="query")
@bp.response(200, SecretList)
def list_secrets(args):
    """The caller's secrets: metadata only, never values."""
    return service.list_metadata(args["limit"], args["cursor"])


@bp.route(f"/api/v1/secrets/{NAME}", methods=["GET"])
@secured(400, 404, 409, *PROVIDER_ERRORS)
@authenticated()
@bp.arguments(VersionArgs, location="query")
@bp.response(200, SecretValueResponse)
def read(args, name):
    """A secret's value: the latest version, or `?version=N`."""
    secret = service.read(_valid_name(name), args["version"])
    return secret | {"secret": secret["value"]}


@bp.route(f"/api/v1/secrets/{NAME}", methods=["PUT"])
@secured(400, 404, 409, 413, 415, *PROVIDER_ERRORS)
@authenticated()
@bp.arguments(UpdateSecretSchema)
@bp.response(200, SecretCreated)
def update(body, name):
    """Store a new version of a secret."""
    return service.update(_valid_name(name), body["value"])


@bp.route(f"/api/v1/secrets/{NAME}", methods=["DELETE"])
@secured(400, 404, *PROVIDER_ERRORS)
@authenticated()
@bp.response(204)
def delete(name):
    """Delete a secret and every version of it."""
    service.delete(_valid_name(name))


@bp.route(f"/api/v1/secrets/{NAME}/versions", methods=["GET"])
@secured(400, 404)
@authenticated()
@bp.response(200, VersionList)
def versions(name):
    """A secret's versions (no values)."""
    return service.versions(_valid_name(name))


def _valid_name(name: str) -> str:
    if not NAME_RULE.match(name):
        raise BadRequest("Not a valid secret name.", reason="bad-name")
    return name

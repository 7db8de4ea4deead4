"""Provider configuration for the organisation (admin)."""

from auth.tokens import authenticated
from common.errors import BadRequest
from common.extensions import Blueprint
from common.openapi import secured
from kms import configs
from kms.schemas import (ConfigureResponse, PROVIDER_FIELDS, ProviderList, ProviderSettingsSchema,
                         ProviderTestResult)

bp = Blueprint("kms", __name__, description="Secret providers (admin)")

PROVIDER = "<any(aws, gcp, azure, local):provider>"


def _provider(body: dict, provider: str | None = None) -> str:
    name = (provider or body.get("provider") or "").strip().lower()
    if name not in PROVIDER_FIELDS:
        raise BadRequest(f"`provider` must be one of: {', '.join(PROVIDER_FIELDS)}.", reason="bad-provider")
    return name


@bp.route("/configure-kms", methods=["POST"])
@secured(400, 403, 415)
@authenticated("admin")
@bp.arguments(ProviderSettingsSchema)
@bp.response(200, ConfigureResponse)
def configure_legacy(body):
    """Configure a provider (original endpoint): `provider` plus its settings."""
    return configs.configure(_provider(body), body)


@bp.route("/api/v1/kms", methods=["GET"])
@secured(403)
@authenticated("admin")
@bp.response(200, ProviderList)
def list_providers():
    """Every provider and whether it is configured (never credentials)."""
    return configs.list_providers()


@bp.route(f"/api/v1/kms/{PROVIDER}", methods=["PUT"])
@secured(400, 403, 404, 415)
@authenticated("admin")
@bp.arguments(ProviderSettingsSchema)
@bp.response(200, ConfigureResponse)
def configure(body, provider):
    """Configure a provider."""
    return configs.configure(_provider(body, provider), body)


@bp.route(f"/api/v1/kms/{PROVIDER}", methods=["DELETE"])
@secured(403, 404, 409)
@authenticated("admin")
@bp.response(204)
def remove(provider):
    """Remove a provider's configuration."""
    configs.remove(provider)


@bp.route(f"/api/v1/kms/{PROVIDER}/test", methods=["POST"])
@secured(403, 404, 409)
@authenticated("admin")
@bp.response(200, ProviderTestResult)
def test(provider):
    """Check that the provider is reachable and accepts the credentials."""
    return configs.test(provider)

"""Request and response schemas for secrets and provider configuration."""

from __future__ import annotations

import base64
import binascii
import json
import re
from urllib.parse import urlparse

from marshmallow import ValidationError, fields, validate, validates_schema

from common.schemas import JsonInteger, RequestSchema, Schema, StrictBoolean, StrictString

NAME_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_VALUE_BYTES = 25_000
MAX_DESCRIPTION = 500


class SecretName(StrictString):
    def __init__(self, **kwargs):
        super().__init__(metadata={"pattern": NAME_RULE.pattern}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if not NAME_RULE.match(value):
            raise ValidationError("Must be 1-128 characters: letters, digits, '.', '_' or '-', "
                                  "starting with a letter or digit.")
        return value


class SecretValue(StrictString):
    """Not empty (AWS refuses empty values); the size limit is checked by the service (413, not 400)."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Length(min=1, error="Must not be empty."), **kwargs)


class CreateSecretSchema(RequestSchema):
    ALIASES = {"name": ("secret_name", "secretName"), "value": ("secret_value", "secretValue")}
    name = SecretName(required=True)
    value = SecretValue(required=True)
    description = StrictString(load_default=None, validate=validate.Length(max=MAX_DESCRIPTION))


class UpdateSecretSchema(RequestSchema):
    ALIASES = {"value": ("secret_value", "secretValue")}
    value = SecretValue(required=True)


class GetSecretSchema(RequestSchema):
    ALIASES = {"name": ("secret_name", "secretName")}
    name = SecretName(required=True)
    version = JsonInteger(validate=validate.Range(1, 10**9), load_default=None)


class VersionArgs(RequestSchema):
    version = fields.Integer(validate=validate.Range(1, 10**9), load_default=None)


class SecretCreated(Schema):
    name = fields.String()
    provider = fields.String()
    version = fields.Integer()
    kms_reference = fields.String()
    created_at = fields.DateTime()


class SecretValueResponse(Schema):
    name = fields.String()
    value = fields.String()
    secret = fields.String()
    version = fields.Integer()
    provider = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class SecretMeta(Schema):
    name = fields.String()
    provider = fields.String()
    version = fields.Integer()
    description = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class SecretList(Schema):
    secrets = fields.List(fields.Nested(SecretMeta))
    next_cursor = fields.String(allow_none=True)


class LegacySecret(Schema):
    secret_name = fields.String()
    secret_value = fields.String(allow_none=True)
    provider = fields.String()
    version = fields.Integer()
    created_time = fields.DateTime()
    updated_time = fields.DateTime()
    error = fields.String()


class LegacySecretList(Schema):
    secrets = fields.List(fields.Nested(LegacySecret))


class LegacySecretValue(Schema):
    name = fields.String()
    secret = fields.String()
    version = fields.Integer()


class VersionInfo(Schema):
    version = fields.Integer()
    created_at = fields.DateTime()


class VersionList(Schema):
    versions = fields.List(fields.Nested(VersionInfo))


# -- provider configuration -------------------------------------------------------------

def _url(value: str, schemes=("http", "https")) -> None:
    try:
        parsed = urlparse(value)
        valid = parsed.scheme in schemes and bool(parsed.hostname) and (parsed.port or 0) >= 0
    except ValueError:  # an out-of-range port, a malformed IPv6 host
        valid = False
    if not valid:
        raise ValidationError(f"Must be a {' or '.join(schemes)} URL.")


class Url(StrictString):
    def __init__(self, schemes=("http", "https"), **kwargs):
        self.schemes = schemes
        pattern = rf"^({'|'.join(schemes)})://[A-Za-z0-9.-]+(:[0-9]{{1,5}})?(/[^\s]*)?$"
        super().__init__(validate=validate.Length(max=500), metadata={"format": "uri", "pattern": pattern}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        _url(value, self.schemes)
        return value


class Credentials(fields.Field):
    """An object, or (as the original clients send it) `credentials_b64`: base64 of that JSON."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("Must be an object.")
        if not all(isinstance(k, str) for k in value):
            raise ValidationError("Must be an object.")
        return value


class AwsCredentials(RequestSchema):
    access_key_id = StrictString(required=True, validate=validate.Length(1, 256))
    secret_access_key = StrictString(required=True, validate=validate.Length(1, 256))
    session_token = StrictString(validate=validate.Length(1, 4096))


class GcpCredentials(RequestSchema):
    service_account_json = fields.Raw(required=True)

    @validates_schema
    def _json(self, data, **kwargs):
        value = data.get("service_account_json")
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValidationError("Must be a JSON object or a string holding one.", "service_account_json") from None
        if not isinstance(value, dict):
            raise ValidationError("Must be a JSON object or a string holding one.", "service_account_json")
        data["service_account_json"] = value


class AzureCredentials(RequestSchema):
    tenant_id = StrictString(required=True, validate=validate.Length(1, 100))
    client_id = StrictString(required=True, validate=validate.Length(1, 100))
    client_secret = StrictString(required=True, validate=validate.Length(1, 1024))


class ProviderSettingsSchema(RequestSchema):
    """Everything a client may send to configure a provider; each provider keeps its own fields."""

    ALIASES = {"provider": ("kms", "kms_selection")}
    provider = StrictString()
    credentials = Credentials(load_default=None)
    credentials_b64 = StrictString(load_default=None, validate=validate.Length(max=20_000))
    # aws
    region = StrictString(validate=validate.Regexp(r"^[a-z]{2}(-[a-z]+)+-\d+$", error="Not a valid AWS region."))
    endpoint_url = Url()
    recovery_window_days = JsonInteger(validate=validate.OneOf([0, *range(7, 31)],
                                          error="Must be 0 (delete at once) or 7 to 30."))
    # gcp
    project_id = StrictString(validate=validate.Regexp(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", error="Not a valid project id."))
    endpoint = Url()
    # azure
    vault_url = Url(schemes=("https",))
    authority_host = Url(schemes=("https",))
    purge_on_delete = StrictBoolean()

    @validates_schema
    def _decode_b64(self, data, **kwargs):
        encoded = data.pop("credentials_b64", None)
        if encoded and data.get("credentials") is None:
            try:
                decoded = json.loads(base64.b64decode(encoded, validate=True))
            except (binascii.Error, ValueError):
                raise ValidationError("Must be base64 of a JSON object.", "credentials_b64") from None
            if not isinstance(decoded, dict):
                raise ValidationError("Must be base64 of a JSON object.", "credentials_b64")
            data["credentials"] = decoded


PROVIDER_FIELDS = {
    "aws": (("region",), ("endpoint_url", "recovery_window_days"), AwsCredentials),
    "gcp": (("project_id",), ("endpoint",), GcpCredentials),
    "azure": (("vault_url",), ("authority_host", "purge_on_delete"), AzureCredentials),
    "local": ((), (), None),
}
CUSTOM_ENDPOINT_FIELDS = ("endpoint_url", "endpoint", "authority_host")


class ProviderStatus(Schema):
    provider = fields.String()
    configured = fields.Boolean()
    settings = fields.Dict()
    has_credentials = fields.Boolean()
    updated_at = fields.DateTime(allow_none=True)


class ProviderList(Schema):
    providers = fields.List(fields.Nested(ProviderStatus))


class ConfigureResponse(Schema):
    provider = fields.String()
    configured = fields.Boolean()
    region = fields.String()
    endpoint_url = fields.String()
    recovery_window_days = fields.Integer()
    project_id = fields.String()
    endpoint = fields.String()
    vault_url = fields.String()
    authority_host = fields.String()
    purge_on_delete = fields.Boolean()
    has_credentials = fields.Boolean()


class ProviderTestResult(Schema):
    provider = fields.String()
    reachable = fields.Boolean()
    authorized = fields.Boolean()
    detail = fields.String()

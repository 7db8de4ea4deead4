from marshmallow import ValidationError, fields, validate
import email_validator
from email_validator import EmailNotValidError, validate_email

from auth.passwords import MAX_LENGTH, MIN_LENGTH
from common.schemas import RequestSchema, Schema, StrictBoolean, StrictString
from models.users import PROVIDERS, ROLES


# Accounts are identities, not mail routes: organisations use internal domains such as
# corp.local, so only the syntax is checked (email-validator documents this list as
# the knob for it).
email_validator.SPECIAL_USE_DOMAIN_NAMES[:] = []


def normalise_email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False, globally_deliverable=False).normalized.lower()
    except EmailNotValidError:
        raise ValidationError("Not a valid email address.") from None


KMS_PATTERN = "^(" + "|".join("".join(f"[{c.lower()}{c.upper()}]" for c in p) for p in PROVIDERS) + ")$"


class KmsChoice(StrictString):
    """`aws`, `gcp`, `azure` or `local`, case-insensitive."""

    def __init__(self, **kwargs):
        super().__init__(metadata={"pattern": KMS_PATTERN, "description": "aws, gcp, azure or local (any case)"},
                         **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs).lower()
        if value not in PROVIDERS:
            raise ValidationError(f"Must be one of: {', '.join(PROVIDERS)}.")
        return value


class Password(StrictString):
    def __init__(self, **kwargs):
        super().__init__(validate=validate.Length(MIN_LENGTH, MAX_LENGTH,
                         error=f"Must be {MIN_LENGTH} to {MAX_LENGTH} characters."), **kwargs)


class EmailField(StrictString):
    def __init__(self, **kwargs):
        super().__init__(metadata={"format": "email", "maxLength": 320}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if len(value) > 320:
            raise ValidationError("Not a valid email address.")
        return normalise_email(value)


class SignupSchema(RequestSchema):
    ALIASES = {"kms": ("kms_selection",)}
    email = EmailField(required=True)
    password = Password(required=True)
    kms = KmsChoice(load_default="local")


class LoginSchema(RequestSchema):
    email = EmailField(required=True)
    # Any length is checked against the hash; the policy applies at signup only.
    password = StrictString(required=True, validate=validate.Length(1, 4096))


class RefreshSchema(RequestSchema):
    refresh_token = StrictString(validate=validate.Length(max=4096))


class UpdateMeSchema(RequestSchema):
    ALIASES = {"kms": ("kms_selection",)}
    kms = KmsChoice(required=True)


class PasswordChangeSchema(RequestSchema):
    current_password = StrictString(required=True, validate=validate.Length(1, 4096))
    new_password = Password(required=True)


class UserUpdateSchema(RequestSchema):
    role = StrictString(validate=validate.OneOf(ROLES))
    disabled = StrictBoolean()


class UserSchema(Schema):
    id = fields.String()
    email = fields.String()
    role = fields.String()
    kms = fields.String()
    disabled = fields.Boolean()
    created_at = fields.DateTime()


class SignupResponse(UserSchema):
    class Meta:
        exclude = ("disabled", "created_at")


class TokenResponse(Schema):
    access_token = fields.String()
    refresh_token = fields.String()
    token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


class UserListResponse(Schema):
    users = fields.List(fields.Nested(UserSchema))
    next_cursor = fields.String(allow_none=True)

"""Schema building blocks shared by every area."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate


class StrictString(fields.String):
    """A string and only a string: no numbers, objects or ``{"$ne": null}``."""

    default_error_messages = {"invalid": "Must be a string.", "unicode": "Must be valid Unicode text."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            value.encode("utf-8")  # JSON may carry lone surrogates ("\ud800") that no provider can store
        except UnicodeEncodeError:
            raise self.make_error("unicode") from None
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """true or false, not "yes" or 1."""

    default_error_messages = {"invalid": "Must be true or false."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class JsonInteger(fields.Integer):
    """An integer as JSON Schema means it: 3 or 3.0, never "3" or true."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid")
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return super()._deserialize(int(value), attr, data, **kwargs)


class RequestSchema(Schema):
    """Unknown fields are ignored (never stored); aliases map to canonical names."""

    ALIASES: dict[str, tuple[str, ...]] = {}

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _apply_aliases(self, data, **kwargs):
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for canonical, aliases in self.ALIASES.items():
            if canonical not in data:
                for alias in aliases:
                    if alias in data:
                        data[canonical] = data[alias]
                        break
        return data


class ProblemSchema(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    error = fields.String()
    request_id = fields.String(allow_none=True)
    errors = fields.Raw()


class PageArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
    cursor = StrictString(load_default=None, validate=validate.Length(max=200))


__all__ = ["StrictString", "StrictBoolean", "JsonInteger", "RequestSchema", "ProblemSchema", "PageArgs", "ValidationError", "fields", "validate"]

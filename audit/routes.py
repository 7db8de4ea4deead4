"""The audit log (admin): events, export and verification."""

from flask import Response, stream_with_context
from marshmallow import fields, validate

from audit import service
from audit.log import OUTCOMES
from auth.tokens import authenticated
from common.extensions import Blueprint
from common.openapi import secured
from common.schemas import RequestSchema, Schema, StrictString

bp = Blueprint("audit", __name__, description="The tamper-evident audit log (admin)")


class EventQuery(RequestSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
    cursor = StrictString(load_default=None, validate=validate.Length(max=200))
    action = StrictString(validate=validate.Regexp(r"^[a-z_.]{1,64}$"))
    actor = StrictString(validate=validate.Length(1, 320))
    outcome = StrictString(validate=validate.OneOf(OUTCOMES))
    target = StrictString(validate=validate.Length(1, 200))
    since = fields.AwareDateTime(default_timezone=None)
    until = fields.AwareDateTime(default_timezone=None)
    format = StrictString(load_default="json", validate=validate.OneOf(["json", "ndjson"]))


class Actor(Schema):
    id = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    role = fields.String(allow_none=True)


class Target(Schema):
    type = fields.String()
    name = fields.String(allow_none=True)


class AuditEvent(Schema):
    id = fields.String()
    timestamp = fields.String()
    action = fields.String()
    outcome = fields.String()
    status = fields.Integer(allow_none=True)
    actor = fields.Nested(Actor, allow_none=True)
    target = fields.Nested(Target, allow_none=True)
    ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class EventPage(Schema):
    logs = fields.List(fields.Nested(AuditEvent))
    next_cursor = fields.String(allow_none=True)


class VerifyQuery(RequestSchema):
    head = StrictString(validate=validate.Length(max=100))


class Head(Schema):
    seq = fields.Integer()
    hash = fields.String()


class VerifyResult(Schema):
    valid = fields.Boolean()
    checked = fields.Integer()
    first_bad = fields.String(allow_none=True)
    head = fields.Nested(Head, allow_none=True)


@bp.route("/audit-logs", methods=["GET"], endpoint="legacy_events")
@bp.route("/api/v1/audit/events", methods=["GET"])
@secured(400, 403)
@authenticated("admin")
@bp.arguments(EventQuery, location="query")
@bp.response(200, EventPage)
@bp.alt_response(200, description="`format=ndjson`: every matching event, one JSON object per line",
                 content_type="application/x-ndjson", success=True)
def events(args):
    """Audit events, newest first; filters `action`, `actor` (id or email), `outcome`, `target`,
    `since`, `until`; `format=ndjson` exports every match."""
    if args["format"] == "ndjson":
        return Response(stream_with_context(service.export(args)), mimetype="application/x-ndjson")
    return service.events_page(args)


@bp.route("/api/v1/audit/verify", methods=["GET"])
@secured(400, 403)
@authenticated("admin")
@bp.arguments(VerifyQuery, location="query")
@bp.response(200, VerifyResult)
def verify(args):
    """Check the whole chain; pass `head=SEQ:HASH` from an earlier verify to detect truncation."""
    return service.verify(service.parse_head(args.get("head")))

"""Reading and verifying the audit log."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone
from typing import Iterator

from flask import current_app

from audit.chain import verify as verify_chain
from audit.log import record, serialize
from common.errors import BadRequest


def _kps():
    return current_app.extensions["kps"]


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": seq}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        before = data["before"]
        if isinstance(before, int) and not isinstance(before, bool) and before > 0:
            return before
    except (binascii.Error, ValueError, TypeError, KeyError):
        pass
    raise BadRequest("The cursor is not valid.", reason="bad-cursor")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def build_query(args: dict) -> dict:
    """A MongoDB query from validated filters (strings only: no operator can get in)."""
    query: dict = {}
    if args.get("action"):
        query["action"] = args["action"]
    if args.get("outcome"):
        query["outcome"] = args["outcome"]
    if args.get("target"):
        query["target.name"] = args["target"]
    if args.get("actor"):
        actor = args["actor"]
        query["$or"] = [{"actor.id": actor}, {"actor.email": actor.lower()}]
    window = {}
    if args.get("since"):
        window["$gte"] = _utc(args["since"])
    if args.get("until"):
        window["$lte"] = _utc(args["until"])
    if window:
        query["timestamp"] = window
    return query


def _filters(args: dict) -> str | None:
    used = [f"{k}={args[k]}" for k in ("action", "actor", "outcome", "target", "since", "until") if args.get(k)]
    return ", ".join(used)[:500] or None


def events_page(args: dict) -> dict:
    before = decode_cursor(args["cursor"]) if args.get("cursor") else None
    limit = args["limit"]
    docs = _kps().audit.events.page(build_query(args), limit, before)
    record("audit.read", "success", 200, target={"type": "audit_log", "name": "events"}, reason=_filters(args))
    return {"logs": [serialize(d) for d in docs],
            "next_cursor": encode_cursor(docs[-1]["_id"]) if len(docs) == limit else None}


def export(args: dict) -> Iterator[str]:
    """Every matching event, newest first, one JSON object per line (for a SIEM)."""
    record("audit.export", "success", 200, target={"type": "audit_log", "name": "events"}, reason=_filters(args))
    for doc in _kps().audit.events.stream(build_query(args)):
        yield json.dumps(serialize(doc), separators=(",", ":")) + "\n"


def parse_head(text: str | None) -> tuple[int, str] | None:
    if not text:
        return None
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise BadRequest("`head` must be SEQ:HASH as a previous verify returned it.", reason="bad-head")
    return int(seq), digest


def verify(head: tuple[int, str] | None = None, audit: bool = True) -> dict:
    kps = _kps()
    result = verify_chain(kps.keyring, kps.audit.events.ascending(), head)
    body = {"valid": result.valid, "checked": result.checked,
            "first_bad": str(result.first_bad) if result.first_bad is not None else None,
            "head": result.head}
    if audit:
        record("audit.verify", "success" if result.valid else "failure", 200,
               target={"type": "audit_log", "name": "chain"},
               reason=None if result.valid else f"first bad event {body['first_bad']}")
    return body

"""Writing audit events: ``record(...)`` appends one event to the chain.

Writes fail closed: when the event cannot be stored, ``AuditUnavailable`` is
raised and the caller must not return a value or keep a change (the API answers
503). Events never hold a secret value, a password, a token or a credential: the
callers pass only names, ids and reason codes.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import Any

from flask import current_app, g, has_request_context, request
from pymongo.errors import DuplicateKeyError, PyMongoError

from audit.chain import event_hash
from common.errors import ServiceUnavailable
from common.metrics import AUDIT_WRITES
from kms.crypto import Keyring
from models.audit_events import AuditEvents

log = logging.getLogger("keyproxy.audit")

OUTCOMES = ("success", "denied", "failure")
MAX_RACE_RETRIES = 50


class AuditUnavailable(ServiceUnavailable):
    default_detail = "The audit log cannot be written; the operation was not performed."
    slug = "audit-unavailable"


class AuditLog:
    def __init__(self, events: AuditEvents, keyring: Keyring):
        self.events = events
        self.keyring = keyring
        self._lock = threading.Lock()
        self._head: tuple[int, str] | None = None  # this process's view of the chain head
        self.healthy = True  # whether this process's last audit write succeeded

    def append(self, fields: dict[str, Any]) -> dict:
        """Chain and store one event; returns the stored document."""
        timestamp = datetime.now(timezone.utc)
        # MongoDB keeps milliseconds: hash exactly what will be read back.
        timestamp = timestamp.replace(microsecond=timestamp.microsecond // 1000 * 1000)
        try:
            with self._lock:
                for _ in range(MAX_RACE_RETRIES):
                    if self._head is None:
                        self._head = self.events.head()
                    seq, prev = self._head
                    doc = {**fields, "_id": seq + 1, "timestamp": timestamp, "prev": prev,
                           "kid": self.keyring.current_kid}
                    doc["hash"] = event_hash(self.keyring, doc)
                    try:
                        self.events.insert(doc)
                    except DuplicateKeyError:
                        self._head = None  # another writer took the position: re-read
                        continue
                    self._head = (doc["_id"], doc["hash"])
                    self.healthy = True
                    AUDIT_WRITES.labels("success").inc()
                    log.info("audit head seq=%d hash=%s", doc["_id"], doc["hash"])
                    return doc
        except PyMongoError as error:
            self._head = None
            log.error("audit write failed: %s", type(error).__name__)
        self.healthy = False
        AUDIT_WRITES.labels("failure").inc()
        raise AuditUnavailable()


def _actor() -> dict | None:
    actor = getattr(g, "actor", None)
    return {"id": actor.user_id, "email": actor.email, "role": actor.role} if actor else None


def record(action: str, outcome: str, status: int | None, *, target: dict | None = None,
           reason: str | None = None, actor: dict | None = None) -> dict:
    """Append one event about the current request. Raises AuditUnavailable."""
    assert outcome in OUTCOMES
    fields = {
        "action": action, "outcome": outcome, "status": status,
        "actor": actor if actor is not None else _actor(),
        "target": target, "reason": reason,
        "ip": None, "user_agent": None, "request_id": None,
    }
    if has_request_context():
        fields.update(ip=request.remote_addr, user_agent=(request.user_agent.string or None),
                      request_id=getattr(g, "request_id", None))
        g.audited = True
    return current_app.extensions["kps"].audit.append(fields)


def serialize(doc: dict) -> dict:
    """An event as the API returns it (the chain fields stay internal)."""
    return {
        "id": str(doc["_id"]),
        "timestamp": doc["timestamp"].astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "action": doc["action"], "outcome": doc["outcome"], "status": doc["status"],
        "actor": doc.get("actor"), "target": doc.get("target"),
        "ip": doc.get("ip"), "user_agent": doc.get("user_agent"),
        "request_id": doc.get("request_id"), "reason": doc.get("reason"),
    }

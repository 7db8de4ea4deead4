"""Writing audit events: ``record(...)`` appends one event to the chain.

Writes fail closed: when the event cannot be stored, ``AuditUnavailable`` is
raised and the caller must not return a value or keep a change (the API answers
503). Events never hold a secret value, a password, a token or a credential: the
callers pass only names, ids and reason codes.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from typing import Any

from flask import current_app, g, has_request_context, request
from pymongo.errors import BulkWriteError, ConnectionFailure, PyMongoError

from audit.chain import event_hash
from audit.sequencer import HostSequencer
from common.errors import ServiceUnavailable
from common.metrics import AUDIT_WRITES
from kms.crypto import Keyring
from models.audit_events import AuditEvents

log = logging.getLogger("keyproxy.audit")

OUTCOMES = ("success", "denied", "failure")
MAX_RACE_RETRIES = 50
MAX_STEPS = 8  # positions stepped over one by one before re-reading the head
# After a write failed for want of the database, the writers queued behind it fail at
# once for this long instead of each waiting out server selection in turn.
FAIL_FAST_SECONDS = 1.0


class AuditUnavailable(ServiceUnavailable):
    default_detail = "The audit log cannot be written; the operation was not performed."
    slug = "audit-unavailable"


class AuditLog:
    def __init__(self, events: AuditEvents, keyring: Keyring, sequencer: HostSequencer | None = None):
        self.events = events
        self.keyring = keyring
        self._sequencer = sequencer
        self._lock = threading.Lock()
        self._head: tuple[int, str] | None = None  # this process's view of the chain head
        self.healthy = True  # whether this process's last audit write succeeded
        self._unreachable_at = float("-inf")  # when a write last failed to reach the database
        self.fail_fast_seconds = FAIL_FAST_SECONDS

    def close(self) -> None:
        if self._sequencer:
            self._sequencer.close()

    def append(self, fields: dict[str, Any]) -> dict:
        """Chain and store one event; returns the stored document."""
        return self.append_many([fields])[0]

    def append_many(self, batch: list[dict[str, Any]]) -> list[dict]:
        """Chain and store events in order, in one insert when no other writer interferes.

        A writer that loses the race for a position gets a duplicate-key error for that
        event (the ones before it are in place, correctly chained); it chains the rest
        after the event that took the position, or after a few such steps after the
        head. Raises AuditUnavailable when they cannot be stored.
        """
        timestamp = datetime.now(timezone.utc)
        # MongoDB keeps milliseconds: hash exactly what will be read back.
        timestamp = timestamp.replace(microsecond=timestamp.microsecond // 1000 * 1000)
        stored: list[dict] = []
        try:
            with self._lock, (self._sequencer.turn() if self._sequencer else nullcontext()):
                if time.monotonic() - self._unreachable_at < self.fail_fast_seconds:
                    log.error("audit write not tried: the database could not be reached a moment ago")
                elif self._insert_chained(batch, timestamp, stored):
                    if self._sequencer:
                        self._sequencer.leave_head(*self._head)
                    self.healthy = True
                    AUDIT_WRITES.labels("success").inc(len(stored))
                    log.info("audit head seq=%d hash=%s", *self._head)
                    return stored
        except PyMongoError as error:
            self._head = None
            if isinstance(error, ConnectionFailure):
                self._unreachable_at = time.monotonic()
            log.error("audit write failed: %s", type(error).__name__)
        self.healthy = False
        AUDIT_WRITES.labels("failure").inc(len(batch) - len(stored))
        raise AuditUnavailable()

    def _insert_chained(self, batch: list[dict[str, Any]], timestamp: datetime, stored: list[dict]) -> bool:
        """Insert the batch's events after the head, adding each stored one to ``stored``;
        False when other writers kept taking the positions."""
        self._take_host_head()
        steps = 0
        for _ in range(MAX_RACE_RETRIES):
            docs = self._chain(batch[len(stored):], timestamp)
            try:
                self.events.insert_many(docs)
            except BulkWriteError as error:
                if any(e.get("code") != 11000 for e in error.details.get("writeErrors", [])):
                    raise
                inserted = error.details.get("nInserted", 0)
                stored += docs[:inserted]
                # Another writer took that position: go on after it; after a few such
                # steps, after the head itself.
                steps += 1
                taken = docs[inserted]["_id"]
                self._head = self.events.at(taken) if steps <= MAX_STEPS else self.events.head()
                continue
            stored += docs
            self._head = (stored[-1]["_id"], stored[-1]["hash"])
            return True
        return False

    def _take_host_head(self) -> None:
        """Start from the head another worker of this host left, once it is found in
        this database (a stale or foreign file is ignored)."""
        left = self._sequencer.last_head() if self._sequencer else None
        if left is not None and left != self._head and self.events.at(left[0]) == left:
            self._head = left

    def _chain(self, batch: list[dict[str, Any]], timestamp: datetime) -> list[dict]:
        if self._head is None:
            self._head = self.events.likely_head()
        seq, prev = self._head
        docs = []
        for fields in batch:
            seq += 1
            doc = {**fields, "_id": seq, "timestamp": timestamp, "prev": prev, "kid": self.keyring.current_kid}
            doc["hash"] = prev = event_hash(self.keyring, doc)
            docs.append(doc)
        return docs


def _actor() -> dict | None:
    actor = getattr(g, "actor", None)
    return {"id": actor.user_id, "email": actor.email, "role": actor.role} if actor else None


def event(action: str, outcome: str, status: int | None, *, target: dict | None = None,
          reason: str | None = None, actor: dict | None = None) -> dict:
    """The fields of one event about the current request (not yet stored)."""
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
    return fields


def record(action: str, outcome: str, status: int | None, **details) -> dict:
    """Append one event about the current request. Raises AuditUnavailable."""
    return record_many([event(action, outcome, status, **details)])[0]


def record_many(events: list[dict]) -> list[dict]:
    """Append several events (built with ``event``) in one write. Raises AuditUnavailable."""
    if has_request_context():
        g.audited = True
    return current_app.extensions["kps"].audit.append_many(events)


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

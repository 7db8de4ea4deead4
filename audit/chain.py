"""The tamper-evident chain: each event carries an HMAC over its content and the
previous event's HMAC.

Why an HMAC chain rather than sealed batches (CloudTrail's digest files): every
event is protected the moment it is written, with no window in which recent
events are unsealed, and verification names the exact first bad event. The key is
derived from KPS_MASTER_KEY (HKDF, purpose "audit-chain") and never stored in
MongoDB, so someone who can write to the database can delete or alter events but
cannot recompute the hashes to repair the evidence. Deleting the newest events
leaves a valid shorter chain; that is caught by comparing against a `head` an
auditor kept earlier (and the server logs every new head).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from kms.crypto import Keyring
from models.audit_events import GENESIS_HASH

CHAINED_FIELDS = ("_id", "timestamp", "action", "outcome", "status", "actor", "target",
                  "ip", "user_agent", "request_id", "reason", "prev", "kid")


def _canonical(doc: dict) -> bytes:
    def default(value):
        if isinstance(value, datetime):
            return value.isoformat(timespec="milliseconds")
        raise TypeError(type(value).__name__)

    content = {name: doc.get(name) for name in CHAINED_FIELDS}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=default,
                      ensure_ascii=False).encode()


def event_hash(keyring: Keyring, doc: dict) -> str:
    key = keyring.derive("audit-chain", doc["kid"])
    return hmac.new(key, _canonical(doc), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Verification:
    valid: bool
    checked: int
    first_bad: int | None
    head: dict | None  # {"seq": int, "hash": str} of the last intact event


def verify(keyring: Keyring, events: Iterable[dict], expected_head: tuple[int, str] | None = None) -> Verification:
    """Walk the chain oldest first; the first event that fails is named.

    An event fails if its position is not the next one (deleted or reordered
    events), if it does not link to the previous event's hash, or if its own hash
    does not match its content (modified). ``expected_head`` is a (seq, hash) an
    auditor kept from an earlier verify: it must still be in the chain.
    """
    prev_seq, prev_hash, checked = 0, GENESIS_HASH, 0
    seen_expected = expected_head is None
    for doc in events:
        seq = doc.get("_id")
        ok = (seq == prev_seq + 1 and doc.get("prev") == prev_hash and keyring.has(doc.get("kid", ""))
              and hmac.compare_digest(event_hash(keyring, doc), doc.get("hash", "")))
        if not ok:
            return Verification(False, checked, seq, _head(prev_seq, prev_hash))
        checked += 1
        prev_seq, prev_hash = seq, doc["hash"]
        if expected_head and seq == expected_head[0]:
            if not hmac.compare_digest(prev_hash, expected_head[1]):
                return Verification(False, checked, seq, _head(prev_seq, prev_hash))
            seen_expected = True
    if not seen_expected:  # the chain is shorter than it was: newest events deleted
        return Verification(False, checked, prev_seq + 1, _head(prev_seq, prev_hash))
    return Verification(True, checked, None, _head(prev_seq, prev_hash))


def _head(seq: int, digest: str) -> dict | None:
    return {"seq": seq, "hash": digest} if seq else None

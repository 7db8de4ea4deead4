"""The `audit_events` collection: an append-only, hash-chained log.

Each event's `_id` is its position in the chain (1, 2, 3, ...). The unique `_id`
is what keeps the chain linear with many writers: a writer that loses the race
for a position gets a duplicate-key error and chains after the event that took it,
so there are no forks and no gaps, and an uncontended write is one insert (the
workers of one server also take turns: audit.sequencer).

The position is stored as a fixed-width decimal string (``key(7)`` is
"00000000000000000007"), which sorts and compares like the number, and the
documents this module returns carry it back as an int. Why not a number: MongoDB
treats 7, 7.0 and Int64(7) as the same key, and the embedded server (mongoeco)
enforces that for a numeric `_id` by comparing the new document with every stored
one, so each audit write would cost time proportional to the log's length.
A string `_id` is checked through its index.
"""

from __future__ import annotations

from typing import Any, Iterator

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

GENESIS_HASH = "0" * 64
KEY_WIDTH = 20  # int64 positions fit in 19 digits


def key(seq: int) -> str:
    """The stored `_id` of the event at position ``seq``."""
    return f"{seq:0{KEY_WIDTH}d}"


def _loaded(doc: dict) -> dict:
    doc["_id"] = int(doc["_id"])
    return doc


class AuditEvents:
    def __init__(self, db: Database):
        self.col = db["audit_events"]

    def ensure_indexes(self) -> None:
        # Filters are always combined with newest-first order on _id.
        self.col.create_index([("action", ASCENDING), ("_id", DESCENDING)], name="by_action")
        self.col.create_index([("actor.id", ASCENDING), ("_id", DESCENDING)], name="by_actor_id")
        self.col.create_index([("actor.email", ASCENDING), ("_id", DESCENDING)], name="by_actor_email")
        self.col.create_index([("outcome", ASCENDING), ("_id", DESCENDING)], name="by_outcome")
        self.col.create_index([("timestamp", DESCENDING)], name="by_time")
        self.col.create_index([("target.name", ASCENDING), ("_id", DESCENDING)], name="by_target")

    def head(self) -> tuple[int, str]:
        """The chain's last position and its hash ((0, GENESIS_HASH) when empty)."""
        doc = self.col.find_one({}, {"_id": 1, "hash": 1}, sort=[("_id", DESCENDING)])
        return (int(doc["_id"]), doc["hash"]) if doc else (0, GENESIS_HASH)

    def likely_head(self) -> tuple[int, str]:
        """A cheap guess at the head: the position equal to the number of events (n
        distinct positions 1, 2, 3... reach n at least, and exactly n when none was
        deleted), read by `_id`. The embedded server sorts, and answers a lookup of a
        missing `_id`, by reading every event (about 60 ms per 10,000), so writers start
        from this guess and step forward on each duplicate position (``at``); when the
        guessed position is missing, the sorted ``head``."""
        count = self.col.estimated_document_count()
        return (self.at(count) if count else None) or self.head()

    def at(self, seq: int) -> tuple[int, str] | None:
        """(seq, hash) of the event at position ``seq``, if there is one."""
        doc = self.col.find_one({"_id": key(seq)}, {"hash": 1})
        return (seq, doc["hash"]) if doc else None

    def insert_many(self, docs: list[dict]) -> None:
        """In order; raises BulkWriteError (code 11000) at the first position already taken."""
        self.col.insert_many([{**doc, "_id": key(doc["_id"])} for doc in docs], ordered=True)

    def ascending(self, batch_size: int = 1000) -> Iterator[dict]:
        return map(_loaded, self.col.find({}).sort("_id", ASCENDING).batch_size(batch_size))

    def page(self, query: dict[str, Any], limit: int, before: int | None) -> list[dict]:
        if before is not None:
            query = {**query, "_id": {"$lt": key(before)}}
        return [_loaded(doc) for doc in self.col.find(query).sort("_id", DESCENDING).limit(limit)]

    def stream(self, query: dict[str, Any]) -> Iterator[dict]:
        return map(_loaded, self.col.find(query).sort("_id", DESCENDING).batch_size(1000))

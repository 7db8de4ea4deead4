"""`python -m bench.chain`: how fast the audit chain can be written here.

Measures the chain step alone (canonical JSON + HMAC-SHA256 per event), then
appending events through the real AuditLog over the wire to the embedded database
(memory and SQLite engines), from one thread, four threads, and in batches of 50.
Each storage run starts from an empty collection: mongoeco's insert cost grows with
the collection's size, so these are best-case figures for the embedded database.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time

import pymongo

from audit.chain import event_hash
from audit.log import AuditLog
from kms.crypto import Keyring
from models.audit_events import AuditEvents
from models.embedded import EmbeddedMongo

FIELDS = {"action": "secret.read", "outcome": "success", "status": 200,
          "actor": {"id": "6b0a", "email": "alice@example.com", "role": "user"},
          "target": {"type": "secret", "name": "db-password"}, "ip": "127.0.0.1", "user_agent": "bench",
          "request_id": "r", "reason": None}


def chain_step(keyring: Keyring, n: int = 20_000) -> float:
    doc = {**FIELDS, "_id": 1, "timestamp": None, "prev": "0" * 64, "kid": keyring.current_kid}
    started = time.perf_counter()
    for _ in range(n):
        event_hash(keyring, doc)
    return n / (time.perf_counter() - started)


def appends(log: AuditLog, threads: int, per_thread: int) -> float:
    def work():
        for _ in range(per_thread):
            log.append(dict(FIELDS))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return threads * per_thread / (time.perf_counter() - started)


def batches(log: AuditLog, count: int, size: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        log.append_many([dict(FIELDS) for _ in range(size)])
    return count * size / (time.perf_counter() - started)


def main() -> None:
    keyring = Keyring(os.urandom(32))
    print(f"chain step (canonical JSON + HMAC): {chain_step(keyring):,.0f} events/s on one core")
    for engine in ("memory", "sqlite"):
        server = EmbeddedMongo(None if engine == "memory" else os.path.join(tempfile.mkdtemp(), "chain.sqlite3"))
        db = pymongo.MongoClient(server.start(), tz_aware=True)["chain_bench"]
        log = AuditLog(AuditEvents(db), keyring)
        for label, run in (("1 thread", lambda: appends(log, 1, 400)), ("4 threads", lambda: appends(log, 4, 100)),
                           ("batches of 50", lambda: batches(log, 8, 50))):
            db.drop_collection("audit_events")
            log._head = None  # the collection was emptied under it
            print(f"{engine:>6} engine, {label:>13}, first 400 events: {run():,.0f} events/s")
        server.stop()


if __name__ == "__main__":
    main()

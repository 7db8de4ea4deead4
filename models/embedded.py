"""The embedded MongoDB-wire-compatible server (mongoeco) used when MONGO_URI is unset.

Two ways to run it:

* ``EmbeddedMongo`` owns one server on an event loop in a background thread of the
  current process (tests, CLI commands, ``flask run``).
* ``python -m models.embedded PATH`` runs it as its own process: ``python app.py``
  starts it once before gunicorn forks its workers, so every worker shares one
  database, and stops it after the last worker has finished. The child prints its
  URI on the first line of stdout and exits when its stdin closes (the parent died)
  or on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import sys
import threading
import time
from pathlib import Path

from mongoeco.engines.memory import MemoryEngine
from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.wire import AsyncMongoEcoProxyServer

STARTUP_TIMEOUT = 15


# Both classes below override internals of mongoeco 4.11.0 (pinned in requirements.txt);
# re-measure them when upgrading. tests/test_embedded.py checks duplicate keys still fail.


class _IndexedIdCheck:
    """Checks a new document's `_id` through the index alone unless the id is numeric.

    mongoeco 4.11 inserts each document of a wire `insert` on its own and, on that
    path, compares the new `_id` with the `_id` of every stored document, a guard
    for storage written by older versions: each insert costs time proportional to
    the collection (about 15 ms at 2,000 documents, 65 ms at 5,000 with SQLite),
    which made every audited request slower as the audit log grew. Storage written
    by this version keys each document by its `_id`, so the indexed lookup that
    precedes the scan already finds any duplicate. mongoeco still scans when the id
    is numeric (7, 7.0 and Int64(7) are one key in MongoDB), so that stays correct.
    """

    def _validate_document_against_unique_indexes(self, *args, scan_payload_id: bool = False, **kwargs):
        return super()._validate_document_against_unique_indexes(*args, scan_payload_id=False, **kwargs)


class _MemoryEngine(_IndexedIdCheck, MemoryEngine):
    pass


class _SQLiteEngine(_IndexedIdCheck, SQLiteEngine):
    """Change-stream delivery at most once a second rather than after every write.

    After each insert the SQLite engine hands its change outbox to the in-process
    change-stream hub, starting and joining a lease heartbeat thread on the way:
    58 % of an insert's time here (py-spy, 2.4 ms per insert). KeyProxy never opens
    a change stream. The cost of skipping: a change stream opened on this server by
    something else sees a write only when a later write comes more than a second
    after the last delivery. The outbox, compacted by each delivery, stays bounded
    by about a second of writes.
    """

    DELIVERY_INTERVAL = 1.0  # seconds

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._kps_delivered: dict[str, float] = {}

    def dispatch_committed_changes(self, consumer_id, consumer):
        now = time.monotonic()
        last = self._kps_delivered.get(consumer_id)
        if last is not None and now - last < self.DELIVERY_INTERVAL:
            return
        self._kps_delivered[consumer_id] = now
        super().dispatch_committed_changes(consumer_id, consumer)


def engine(path: str | None):
    """A mongoeco storage engine: in memory (None) or the SQLite file at ``path``."""
    if path is None:
        return _MemoryEngine()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return _SQLiteEngine(str(path))


class EmbeddedMongo:
    """One mongoeco wire server on its own thread; ``path=None`` keeps data in memory."""

    def __init__(self, path: str | None = None, host: str = "127.0.0.1", port: int = 0):
        self._path, self._host, self._port = path, host, port
        self._ready: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="embedded-mongo", daemon=True)
        self.uri: str | None = None

    def start(self) -> str:
        self._thread.start()
        self.uri = self._ready.result(timeout=STARTUP_TIMEOUT)
        return self.uri

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # surfaced to start()'s caller
            if not self._ready.done():
                self._ready.set_exception(error)

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        server = AsyncMongoEcoProxyServer(engine=engine(self._path), host=self._host, port=self._port)
        address = await server.start()
        try:
            self._ready.set_result(address.uri)
            await self._stop.wait()
        finally:
            await server.close()


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else None
    port = int(argv[2]) if len(argv) > 2 else 0
    server = EmbeddedMongo(path, port=port)
    uri = server.start()
    print(uri, flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    # A closed stdin means the parent has gone: do not outlive it.
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

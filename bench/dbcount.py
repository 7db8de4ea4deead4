"""Counting the MongoDB commands a server process sends (bench only).

``install(directory)`` registers a pymongo CommandListener for every MongoClient the
process creates afterwards, its forks included (gunicorn's workers, and their
flask-limiter client). Each process keeps its running total in ``<directory>/<pid>``:
8 bytes mapped into memory, so counting one command is a memory write, and the
bench reads the files from outside (``total``) before and after each scenario.
Server heartbeats are not commands and are not counted.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from pathlib import Path

from pymongo import monitoring

_FORMAT = "<q"


class CommandCounter(monitoring.CommandListener):
    def __init__(self, directory: str):
        self._directory = directory
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._count = 0
        self._map: mmap.mmap | None = None

    def started(self, event) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first command in this process (a fork starts afresh)
                self._open()
            self._count += 1
            struct.pack_into(_FORMAT, self._map, 0, self._count)

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass

    def _open(self) -> None:
        self._pid, self._count = os.getpid(), 0
        with open(Path(self._directory, str(self._pid)), "wb+") as file:
            file.write(bytes(struct.calcsize(_FORMAT)))
            file.flush()
            self._map = mmap.mmap(file.fileno(), struct.calcsize(_FORMAT))


def install(directory: str) -> None:
    Path(directory).mkdir(parents=True, exist_ok=True)
    monitoring.register(CommandCounter(directory))


def total(directory: str) -> int:
    """Commands sent so far by every process that counted into ``directory``."""
    return sum(struct.unpack(_FORMAT, path.read_bytes()[:8])[0] for path in Path(directory).iterdir())

"""One audit writer at a time on this host, and the head it left for the next one.

The chain is written optimistically (a writer that loses a position to another gets a
duplicate-key error and goes on after it), which costs round trips under contention;
on the embedded database, whose sort and missing-`_id` lookups read every event,
writers that keep losing would starve. The worker processes of one server share a
data directory, so they take turns through an exclusive `flock` on a small file in
it, and each leaves there the head it wrote: the next writer chains after that head
without asking the database, once it has checked that this event is in its database
(so a file left by a server on another database, or a database restored from a
backup, is never trusted). Servers on other hosts are still handled by the
duplicate-key path.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger("keyproxy.audit")

_HEAD = re.compile(r"(\d{1,19}) ([0-9a-f]{64})\n")


class HostSequencer:
    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None
        self._pid: int | None = None

    def __repr__(self) -> str:
        return f"HostSequencer({str(self.path)!r})"

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the host's turn to write (callers serialise their own threads first).
        Without a usable file (a read-only data directory), writers go without turns."""
        fd = self._file()
        if fd is None:
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def last_head(self) -> tuple[int, str] | None:
        """The (position, hash) the previous writer on this host left, if any."""
        fd = self._file()
        match = _HEAD.fullmatch(os.pread(fd, 128, 0).decode("ascii", "replace")) if fd is not None else None
        return (int(match[1]), match[2]) if match else None

    def leave_head(self, seq: int, digest: str) -> None:
        fd = self._file()
        if fd is not None:
            data = f"{seq} {digest}\n".encode()
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = self._pid = None

    def _file(self) -> int | None:
        # Opened per process: a descriptor inherited across fork shares its lock.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as error:
                self._fd = None
                log.warning("audit writers of this server will not take turns: cannot open %s (%s)",
                            self.path, error.strerror)
        return self._fd

"""An optional in-process cache of provider reads (KPS_CACHE_TTL_SECONDS, off by default).

Keys are (provider, object name, provider version). A version's value never changes,
and which version is current always comes from MongoDB, so a cached entry can only
be stale in one way: a secret deleted or disabled directly in the provider, outside
KeyProxy, is still served by an instance that cached it, until the TTL ends. Deletes
through KeyProxy drop this instance's entries at once; other instances stop serving a
deleted secret immediately too, because its reference is gone from MongoDB. Every
cached read is still authorised and audited. The cost: values sit in the memory of
each worker for up to the TTL.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class ReadCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 10_000):
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ReadCache(ttl={self.ttl}, entries={len(self._entries)}, values=***)"

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, key: tuple) -> str | None:
        if not self.enabled:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple, value: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, provider: str, object_name: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k[0] == provider and k[1] == object_name]:
                del self._entries[key]

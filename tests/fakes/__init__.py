"""Small fakes of cloud secret APIs, served over real HTTP(S) on 127.0.0.1 so that
the real SDKs reach them through their real transports.

Each fake keeps its state in plain attributes for assertions and has the same
knobs to misbehave: ``fail_next`` answers the next requests with an error status,
``stall`` holds requests unanswered until ``release`` so a client times out.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

# Longest a stalled request is held if a test never releases it.
_STALL_LIMIT_SECONDS = 30


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


@dataclass
class _Fault:
    status: int
    times: int
    on: str
    retry_after: int | None


class FakeServer:
    """A WSGI app run by werkzeug's threaded server in a daemon thread.

    Subclasses implement ``handle`` (called under one lock, so state needs no other
    locking), ``error(status, retry_after)`` in their API's error format, and may
    narrow ``is_api`` to the requests the knobs apply to."""

    def __init__(self, ssl_context=None):
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._faults: list[_Fault] = []
        self._stall_on: str | None = None
        self.holding = threading.Event()  # set while a stalled request is held
        self.requests: list[str] = []  # "METHOD /path" of every API request
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True,
                                   request_handler=_QuietHandler, ssl_context=ssl_context)
        self.port = self._server.server_port
        # A short poll interval: shutdown() waits up to one interval.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name=f"{type(self).__name__}:{self.port}", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        """Forget all state and knobs (between tests)."""
        self.release()
        with self._lock:
            self._faults.clear()
            self._stall_on = None
            self.requests.clear()
            self.clear()

    # --- knobs -------------------------------------------------------------

    def fail_next(self, status: int, *, times: int = 1, on: str = "",
                  retry_after: int | None = None) -> None:
        """Answer the next ``times`` API requests whose "METHOD /path" contains ``on``
        with ``status`` (and a Retry-After of ``retry_after`` seconds)."""
        with self._lock:
            self._faults.append(_Fault(status, times, on, retry_after))

    def stall(self, on: str = "") -> None:
        """Hold API requests whose "METHOD /path" contains ``on`` until ``release``."""
        with self._lock:
            self._stall_on = on

    def release(self) -> None:
        """Let stalled requests go; later ones are not held."""
        with self._lock:
            self._stall_on = None
            released, self._released = self._released, threading.Event()
        self.holding.clear()
        released.set()

    # --- for subclasses ----------------------------------------------------

    def clear(self) -> None:
        """Empty the fake's own state."""

    def is_api(self, request: Request) -> bool:
        return True

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def error(self, status: int, retry_after: int | None = None) -> Response:
        raise NotImplementedError

    # --- plumbing ----------------------------------------------------------

    def _wsgi(self, environ, start_response):
        return self._respond(Request(environ))(environ, start_response)

    def _respond(self, request: Request) -> Response:
        target = f"{request.method} {request.path}"
        if self.is_api(request):
            with self._lock:
                self.requests.append(target)
                fault = self._take_fault(target)
                stalled = self._stall_on is not None and self._stall_on in target
                held = self._released if stalled else None
            if fault is not None:
                return self.error(fault.status, fault.retry_after)
            if held is not None:
                self.holding.set()
                held.wait(_STALL_LIMIT_SECONDS)  # the client has given up by the time this returns
        with self._lock:
            return self.handle(request)

    def _take_fault(self, target: str) -> _Fault | None:
        for fault in self._faults:
            if fault.on in target:
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None

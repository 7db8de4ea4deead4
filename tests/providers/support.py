"""Small helpers shared by the provider tests."""

import socket
import uuid

from kms.providers.base import TimeBudget

# One attempt with short timeouts: a stalled or unreachable provider fails fast.
ONE_QUICK_ATTEMPT = TimeBudget(connect_timeout=1, read_timeout=0.5, max_attempts=1)


def new_name() -> str:
    """An object name of the shape the secrets service gives provider objects."""
    return f"kps-{uuid.uuid4().hex}"


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

"""A loopback TCP relay that holds back every byte a client sends for a fixed delay,
like the network path to an in-region Secrets Manager endpoint. Answers pass at once.

    python -m bench.relay UPSTREAM_PORT [--delay-ms 20]

prints ``127.0.0.1:PORT`` (its own address) on the first line of stdout and runs until
its stdin closes. Each client connection gets its own upstream connection. The delay
is a delay line, not a per-chunk pause: a chunk received at time t is forwarded at
t + delay, so a request that arrives in several chunks is late by the delay once, and
keep-alive connections carry any number of requests.
"""

from __future__ import annotations

import argparse
import queue
import socket
import socketserver
import sys
import threading
import time

CHUNK = 65536


def _copy(src: socket.socket, dst: socket.socket) -> None:
    """Answers: upstream to client, as they come."""
    try:
        while data := src.recv(CHUNK):
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _delayed_copy(src: socket.socket, dst: socket.socket, delay: float) -> None:
    """Requests: client to upstream, each chunk sent ``delay`` seconds after it arrived."""
    line: queue.SimpleQueue = queue.SimpleQueue()

    def sender() -> None:
        try:
            while (item := line.get()) is not None:
                due, data = item
                if (wait := due - time.monotonic()) > 0:
                    time.sleep(wait)  # the deliberate in-region latency
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    try:
        while data := src.recv(CHUNK):
            line.put((time.monotonic() + delay, data))
    except OSError:
        pass
    line.put(None)
    thread.join()


class Relay(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: tuple[str, int], delay: float):
        super().__init__(("127.0.0.1", 0), _Connection)
        self.upstream, self.delay = upstream, delay


class _Connection(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        client: socket.socket = self.request
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            upstream = socket.create_connection(self.server.upstream, timeout=10)
        except OSError:
            return
        upstream.settimeout(None)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        answers = threading.Thread(target=_copy, args=(upstream, client), daemon=True)
        answers.start()
        _delayed_copy(client, upstream, self.server.delay)
        answers.join()
        upstream.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.relay")
    parser.add_argument("upstream_port", type=int)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    args = parser.parse_args(argv)
    relay = Relay(("127.0.0.1", args.upstream_port), args.delay_ms / 1000)
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    print(f"127.0.0.1:{relay.server_address[1]}", flush=True)
    sys.stdin.read()  # until the bench closes our stdin (or dies)
    relay.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The load generator, in its own process, driven by bench.run: one JSON object per
line on stdin (a job), one per line on stdout (its result).

A job runs ``concurrency`` threads in a closed loop: each thread sends its next
request as soon as it has read the previous answer, over its own keep-alive HTTP/1.1
connection (http.client), until ``duration`` seconds have passed and at least
``min_requests`` have completed (but never past 3 x duration). Latency is measured
per successful request, from sending to the last byte of the answer read. A request
without an answer within the request timeout counts as an error (a timeout).

Jobs:
    {"op": "context", ...}   what the scenarios need: address, tokens, names
    {"op": "run", "scenario": S, "concurrency": C, "duration": D, "min_requests": M}
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import os
import sys
import threading
import time
from typing import Callable

MAX_STRETCH = 3.0
ERROR_SAMPLES = 3
TIMEOUT = "no answer within the request timeout"


class Failed(Exception):
    pass


class Http:
    """One keep-alive connection; http.client reconnects by itself after a close."""

    def __init__(self, host: str, port: int, timeout: float):
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)

    def call(self, method: str, path: str, token: str | None = None, body: dict | None = None,
             expect: int = 200) -> bytes:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, data, headers)
            response = self.conn.getresponse()
            payload = response.read()
        except TimeoutError:
            self.conn.close()
            raise Failed(f"{method} {path}: {TIMEOUT}") from None
        except (OSError, http.client.HTTPException) as error:
            self.conn.close()
            raise Failed(f"{method} {path}: {type(error).__name__}") from None
        if response.status != expect:
            raise Failed(f"{method} {path}: HTTP {response.status} {payload[:200]!r}")
        return payload

    def close(self) -> None:
        self.conn.close()


_names = itertools.count()  # unique names for created secrets (thread-safe in CPython)
_boto = None


def _direct_client(ctx: dict):
    """A boto3 client configured as the server's AWS adapter builds its own."""
    global _boto
    if _boto is None:
        import boto3
        from botocore.config import Config

        aws = ctx["aws"]
        config = Config(connect_timeout=aws["connect_timeout"], read_timeout=aws["read_timeout"],
                        retries={"total_max_attempts": aws["max_attempts"], "mode": "standard"},
                        max_pool_connections=32)
        _boto = boto3.session.Session(aws_access_key_id=aws["access_key_id"],
                                      aws_secret_access_key=aws["secret_access_key"],
                                      region_name=aws["region"]).client(
            "secretsmanager", endpoint_url=aws["endpoint_url"], config=config)
    return _boto


def _read_direct(http: Http, ctx: dict) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _direct_client(ctx).get_secret_value(SecretId=ctx["aws"]["object_name"])
    except (BotoCoreError, ClientError) as error:
        raise Failed(f"boto3: {type(error).__name__}") from None


def _get_all(http: Http, ctx: dict) -> None:
    secrets = json.loads(http.call("GET", "/get-all-secrets", ctx["tokens"]["aws"]))["secrets"]
    if len(secrets) != ctx["aws_secrets"] or any("error" in s for s in secrets):
        raise Failed(f"get-all-secrets: {len(secrets)} secrets, {sum('error' in s for s in secrets)} failed")


def _create(http: Http, ctx: dict) -> None:
    name = f"{ctx['run_id']}-{next(_names)}"
    http.call("POST", "/api/v1/secrets", ctx["tokens"]["writer"], {"name": name, "value": "v" * 64}, expect=201)


SCENARIOS: dict[str, Callable[[Http, dict], object]] = {
    "healthz": lambda http, ctx: http.call("GET", "/healthz"),
    "me": lambda http, ctx: http.call("GET", "/api/v1/auth/me", ctx["tokens"]["local"]),
    "read-local": lambda http, ctx: http.call("GET", f"/api/v1/secrets/{ctx['local_secret']}", ctx["tokens"]["local"]),
    "read-aws": lambda http, ctx: http.call("GET", f"/api/v1/secrets/{ctx['aws_secret']}", ctx["tokens"]["aws"]),
    "read-aws-direct": _read_direct,
    "create": _create,
    "get-all-aws": _get_all,
    "login": lambda http, ctx: http.call("POST", "/login", body=ctx["login"]),
    "audit-query": lambda http, ctx: http.call("GET", ctx["audit_query"], ctx["tokens"]["admin"]),
}


def percentile(ordered: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def run(ctx: dict, scenario: str, concurrency: int, duration: float, min_requests: int) -> dict:
    call = SCENARIOS[scenario]
    latencies: list[float] = []
    errors: list[str] = []
    finished: list[float] = []
    start_gate = threading.Barrier(concurrency + 1)
    times = os.times()

    def worker() -> None:
        http = Http(ctx["host"], ctx["port"], ctx["request_timeout"])
        start_gate.wait()
        deadline, last_call = start + duration, start + duration * MAX_STRETCH
        while True:
            now = time.perf_counter()
            if now >= deadline and (len(latencies) + len(errors) >= min_requests or now >= last_call):
                break
            try:
                call(http, ctx)
            except Failed as error:
                errors.append(str(error))
            else:
                latencies.append(time.perf_counter() - now)
        finished.append(time.perf_counter())
        http.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    start_gate.wait()
    for thread in threads:
        thread.join()
    elapsed = max(finished) - start
    used = os.times()
    latencies.sort()
    done = len(latencies) + len(errors)
    ms = lambda value: None if value is None else round(value * 1000, 3)  # noqa: E731
    return {
        "scenario": scenario, "concurrency": concurrency, "elapsed_s": round(elapsed, 3),
        "requests": done, "ok": len(latencies), "errors": len(errors), "timeouts": sum(TIMEOUT in e for e in errors),
        "error_samples": sorted(set(errors))[:ERROR_SAMPLES],
        "rps": round(done / elapsed, 2), "p50_ms": ms(percentile(latencies, 0.50)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "client_cpu_ms_per_req": round(((used.user - times.user) + (used.system - times.system)) * 1000 / max(done, 1), 3),
    }


def main() -> int:
    ctx: dict = {}
    for line in sys.stdin:
        job = json.loads(line)
        if job["op"] == "context":
            ctx = job
            answer = {"ok": True}
        else:
            answer = run(ctx, job["scenario"], job["concurrency"], job["duration"], job["min_requests"])
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

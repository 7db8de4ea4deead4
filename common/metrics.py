"""Prometheus metrics at /metrics.

Labels are bounded: routes are URL rule templates (`/api/v1/secrets/<name>`, never a
secret's name), providers and operations come from fixed lists. Under gunicorn the
workers write to PROMETHEUS_MULTIPROC_DIR (set by common.server before forking) and
/metrics merges them, so one scrape sees every worker.
"""

from __future__ import annotations

import os
import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest,
                               multiprocess)

HTTP_REQUESTS = Counter("kps_http_requests_total", "HTTP requests answered", ["route", "method", "status"])
HTTP_LATENCY = Histogram("kps_http_request_duration_seconds", "HTTP request latency", ["route", "method"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
PROVIDER_CALLS = Counter("kps_provider_calls_total", "Calls to secret providers", ["provider", "operation", "outcome"])
PROVIDER_LATENCY = Histogram("kps_provider_call_duration_seconds", "Secret provider call latency",
                             ["provider", "operation"],
                             buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
AUDIT_WRITES = Counter("kps_audit_writes_total", "Audit events written", ["outcome"])
LOGIN_FAILURES = Counter("kps_login_failures_total", "Failed logins")
LOCKOUTS = Counter("kps_login_lockouts_total", "Accounts locked after too many failed logins")

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response):
    route = request.url_rule.rule if request.url_rule else "unmatched"
    HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    HTTP_LATENCY.labels(route, request.method).observe(time.perf_counter() - g.get("metrics_started", time.perf_counter()))
    return response


def register_metrics(app: Flask) -> None:
    app.register_blueprint(bp)
    app.before_request(_start)
    app.after_request(_observe)


class InstrumentedStore:
    """A provider store whose calls are counted and timed by provider, operation and outcome."""

    OPERATIONS = ("create", "add_version", "read", "read_many", "list_versions", "delete", "check")

    def __init__(self, provider: str, store):
        self._provider, self._store = provider, store
        self.name = getattr(store, "name", provider)
        self.last_outcome: tuple[str, float] | None = None  # (outcome, unix time)

    def __repr__(self) -> str:
        return f"InstrumentedStore({self._store!r})"

    def __getattr__(self, operation):
        call = getattr(self._store, operation)
        if operation not in self.OPERATIONS:
            return call

        def timed(*args, **kwargs):
            started = time.perf_counter()
            outcome = "error"
            try:
                result = call(*args, **kwargs)
                outcome = "success"
                return result
            except Exception as error:
                outcome = type(error).__name__
                raise
            finally:
                PROVIDER_CALLS.labels(self._provider, operation, outcome).inc()
                PROVIDER_LATENCY.labels(self._provider, operation).observe(time.perf_counter() - started)
                self.last_outcome = (outcome, time.time())

        return timed

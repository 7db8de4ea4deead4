"""Logs: one JSON object per line on stdout.

Each request leaves one line with its request id (the same as the X-Request-ID
header and its audit events), route, status, duration and actor id. Nothing here
ever receives a value, token, password or credential: callers log names, ids,
types and counts only.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime, timezone

from flask import Flask, g, has_request_context, request

CONTEXT_FIELDS = ("request_id", "method", "route", "status", "duration_ms", "actor_id", "ip")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context() and "request_id" not in record.__dict__:
            entry["request_id"] = getattr(g, "request_id", None)
        for name in CONTEXT_FIELDS:
            if name in record.__dict__:
                entry[name] = record.__dict__[name]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stdout for the whole process (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level)


GUNICORN_LOGCONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "common.logs.JsonFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
    "loggers": {
        "gunicorn.error": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
    "root": {"handlers": ["stdout"], "level": "INFO"},
}

request_log = logging.getLogger("keyproxy.request")


def _start_timer() -> None:
    g.started = time.perf_counter()


def _log_request(response):
    actor = getattr(g, "actor", None)
    request_log.info("request", extra={
        "request_id": getattr(g, "request_id", None), "method": request.method,
        "route": request.url_rule.rule if request.url_rule else "unmatched",
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2),
        "actor_id": actor.user_id if actor else None, "ip": request.remote_addr,
    })
    return response


def register_request_logging(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_log_request)

"""`python app.py` / `make run`: gunicorn in the foreground.

Without MONGO_URI, the embedded database runs as its own process, started before
gunicorn forks its workers (so they all share it) and stopped after gunicorn has
drained them on SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys

from gunicorn.app.base import BaseApplication
from prometheus_client import multiprocess

from common.logs import GUNICORN_LOGCONFIG, configure_logging

from common.config import ConfigError, load_settings
from models.db import embedded_path

log = logging.getLogger("keyproxy")


class KeyProxyServer(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from app import create_app

        return create_app()


def gunicorn_options(settings) -> dict:
    provider_budget = (settings.provider_connect_timeout + settings.provider_read_timeout) * settings.provider_max_attempts
    return {
        "bind": f"{settings.host}:{settings.port}",
        "workers": settings.workers,
        "worker_class": "gthread",
        "threads": settings.threads,
        # Above the provider time budget, so a slow provider is a 504, not a killed worker.
        "timeout": int(max(30, provider_budget * 2)),
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": None,  # the app logs each request as JSON (common.logs)
        "logconfig_dict": GUNICORN_LOGCONFIG,
        "proc_name": "keyproxy",
        "control_socket_disable": True,  # not used; it would need a writable $HOME
        "child_exit": _worker_exited,
    }


def _worker_exited(_server, worker) -> None:
    multiprocess.mark_process_dead(worker.pid)


def prepare_metrics_dir(settings) -> None:
    """Workers share metrics through files in a directory emptied at each start.

    prometheus_client picks its storage when it is first imported, which has already
    happened in this process, so once the directory is ready the process re-executes
    itself with PROMETHEUS_MULTIPROC_DIR set from the start.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return  # set by the operator, or by the re-execution below
    path = settings.data_dir / "prometheus"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def start_embedded_database(settings) -> tuple[subprocess.Popen, str]:
    child = subprocess.Popen([sys.executable, "-m", "models.embedded", embedded_path(settings)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    uri = child.stdout.readline().strip()
    if not uri.startswith("mongodb://"):
        child.kill()
        raise SystemExit("the embedded database did not start")
    return child, uri


def serve() -> None:
    configure_logging()
    try:
        settings = load_settings()  # also generates development keys once, before any worker
    except ConfigError as error:
        raise SystemExit(f"keyproxy: {error}") from None
    prepare_metrics_dir(settings)
    child = None
    if not settings.mongo_uri:
        child, uri = start_embedded_database(settings)
        os.environ["MONGO_URI"] = uri
        log.info("database: embedded mongoeco server, SQLite file %s, at %s", embedded_path(settings), uri)
    try:
        KeyProxyServer(gunicorn_options(settings)).run()
    finally:
        if child is not None:
            child.stdin.close()  # the child exits cleanly when its stdin closes
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()

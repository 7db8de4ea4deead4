# KeyProxy image: gunicorn serving the API as a non-root user.
#   docker build -t keyproxy .
#   docker compose up -d          (with MongoDB as a replica set; see docker-compose.yml)
# Deployment notes: docs/operating.md.

# --- builder: the pinned runtime dependencies, installed into /opt/venv ---------------
FROM python:3.13-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Every pinned dependency (requirements.txt and what it pulls in) ships a CPython 3.13
# manylinux wheel, so nothing is compiled and no build tools are installed. Should one
# ever need compiling, install build-essential here, in the builder only: the final
# stage copies /opt/venv, never the compilers.
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

# --- final: the venv, the source, a non-root user ---------------------------------------
FROM python:3.13-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KPS_HOST=0.0.0.0 \
    KPS_PORT=5000 \
    KPS_DATA_DIR=/app/var

RUN groupadd --gid 10001 keyproxy \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin keyproxy

WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
# The source stays owned by root (read-only to the app); .dockerignore keeps .venv, var,
# tests, .git and .env out. Bytecode is compiled now because the running container
# cannot write next to the source (read-only root filesystem).
COPY . /app
RUN python -m compileall -q /app \
 && mkdir -p /app/var \
 && chown 10001:10001 /app/var \
 && chmod 0700 /app/var

USER 10001:10001

EXPOSE 5000

# No curl in slim: ask /healthz with the standard library (no proxy for the loopback).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:' + os.environ.get('KPS_PORT', '5000') + '/healthz', timeout=4)"]

# gunicorn's arbiter drains the workers on SIGTERM (graceful_timeout 20 s, under
# compose's stop_grace_period of 30 s).
STOPSIGNAL SIGTERM

CMD ["python", "app.py"]

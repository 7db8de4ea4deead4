"""A fake of Google Secret Manager's REST API (v1), as much as the gcp provider
uses: secrets with automatic replication and labels, numbered versions whose
payloads are checked against their CRC32C, paged lists, and Google's JSON errors.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from werkzeug.wrappers import Request, Response

from tests.fakes import FakeServer

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL", 503: "UNAVAILABLE",
}
_SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_SEGMENT = r"[^/:]+"


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli), bit by bit: deliberately not the provider's table version."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FakeVersion:
    data: bytes
    crc32c: int
    client_checksum: bool  # whether the client sent dataCrc32c
    create_time: str = field(default_factory=_now)
    state: str = "ENABLED"


@dataclass
class FakeSecret:
    labels: dict[str, str]
    create_time: str = field(default_factory=_now)
    versions: dict[str, FakeVersion] = field(default_factory=dict)  # "1", "2", ...


class FakeSecretManager(FakeServer):
    """``secrets`` maps a secret id to its ``FakeSecret``. Only ``project`` exists;
    any other project answers 403, as Google does for a project you cannot see."""

    def __init__(self, project: str = "kps-test"):
        self.project = project
        self.clear()
        super().__init__()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        p, s = _SEGMENT, _SEGMENT
        self._routes = [
            ("POST", rf"/v1/projects/(?P<project>{p})/secrets", self._create_secret),
            ("GET", rf"/v1/projects/(?P<project>{p})/secrets", self._list_secrets),
            ("GET", rf"/v1/projects/(?P<project>{p})/secrets/(?P<secret>{s})", self._get_secret),
            ("DELETE", rf"/v1/projects/(?P<project>{p})/secrets/(?P<secret>{s})",
             self._delete_secret),
            ("POST", rf"/v1/projects/(?P<project>{p})/secrets/(?P<secret>{s}):addVersion",
             self._add_version),
            ("GET", rf"/v1/projects/(?P<project>{p})/secrets/(?P<secret>{s})/versions",
             self._list_versions),
            ("GET", rf"/v1/projects/(?P<project>{p})/secrets/(?P<secret>{s})"
                    rf"/versions/(?P<version>{s}):access", self._access),
        ]

    def clear(self) -> None:
        self.secrets: dict[str, FakeSecret] = {}

    def corrupt(self, secret_id: str, version: str | None = None) -> None:
        """Make the stored checksum of a version (default: the latest) wrong."""
        versions = self.secrets[secret_id].versions
        versions[version or max(versions, key=int)].crc32c ^= 1

    # --- dispatch ----------------------------------------------------------

    def handle(self, request: Request) -> Response:
        for method, pattern, view in self._routes:
            match = re.fullmatch(pattern, request.path)
            if match and request.method == method:
                args = match.groupdict()
                if args.pop("project") != self.project:
                    return self._fail(403, "Permission denied on resource project.")
                return view(request, **args)
        return self._fail(404, "The requested URL was not found.")

    def error(self, status: int, retry_after: int | None = None) -> Response:
        """An injected failure; Google says how long to wait in a RetryInfo detail."""
        details = [] if retry_after is None else [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after}s"}]
        return self._fail(status, "Injected failure.", details)

    def _fail(self, status: int, message: str, details: list | None = None) -> Response:
        error = {"code": status, "message": message, "status": _STATUS_NAMES.get(status, "UNKNOWN")}
        if details:
            error["details"] = details
        return _json({"error": error}, status)

    # --- views -------------------------------------------------------------

    def _create_secret(self, request: Request) -> Response:
        secret_id = request.args.get("secretId", "")
        body = request.get_json(silent=True) or {}
        labels = body.get("labels") or {}
        if not _SECRET_ID.fullmatch(secret_id) or "replication" not in body:
            return self._fail(400, "Invalid secret id or missing replication.")
        if any(not _LABEL_KEY.fullmatch(k) or not _LABEL_VALUE.fullmatch(v)
               for k, v in labels.items()):
            return self._fail(400, "Invalid label.")
        if secret_id in self.secrets:
            return self._fail(409, f"Secret [{self._name(secret_id)}] already exists.")
        self.secrets[secret_id] = FakeSecret(labels=dict(labels))
        return _json(self._secret_json(secret_id))

    def _get_secret(self, request: Request, secret: str) -> Response:
        if secret not in self.secrets:
            return self._not_found(secret)
        return _json(self._secret_json(secret))

    def _delete_secret(self, request: Request, secret: str) -> Response:
        if self.secrets.pop(secret, None) is None:
            return self._not_found(secret)
        return _json({})

    def _list_secrets(self, request: Request) -> Response:
        return _page(request, "secrets", [self._secret_json(s) for s in self.secrets])

    def _add_version(self, request: Request, secret: str) -> Response:
        if secret not in self.secrets:
            return self._not_found(secret)
        payload = (request.get_json(silent=True) or {}).get("payload") or {}
        try:
            data = base64.b64decode(payload.get("data", ""), validate=True)
        except binascii.Error:
            return self._fail(400, "Invalid payload data.")
        checksum = crc32c(data)
        sent = payload.get("dataCrc32c")
        if sent is not None and int(sent) != checksum:
            return self._fail(400, "Checksum mismatch.")
        versions = self.secrets[secret].versions
        number = str(len(versions) + 1)
        versions[number] = FakeVersion(data=data, crc32c=checksum, client_checksum=sent is not None)
        return _json(self._version_json(secret, number))

    def _list_versions(self, request: Request, secret: str) -> Response:
        if secret not in self.secrets:
            return self._not_found(secret)
        newest_first = sorted(self.secrets[secret].versions, key=int, reverse=True)
        return _page(request, "versions", [self._version_json(secret, n) for n in newest_first])

    def _access(self, request: Request, secret: str, version: str) -> Response:
        if secret not in self.secrets:
            return self._not_found(secret)
        versions = self.secrets[secret].versions
        if version == "latest":
            enabled = [n for n, v in versions.items() if v.state == "ENABLED"]
            version = max(enabled, key=int) if enabled else ""
        if version not in versions:
            return self._fail(404, f"Secret Version [{self._name(secret)}/versions/{version}] "
                                   "not found.")
        stored = versions[version]
        return _json({"name": f"{self._name(secret)}/versions/{version}",
                      "payload": {"data": base64.b64encode(stored.data).decode("ascii"),
                                  "dataCrc32c": str(stored.crc32c)}})

    # --- representations ---------------------------------------------------

    def _name(self, secret_id: str) -> str:
        return f"projects/{self.project}/secrets/{secret_id}"

    def _not_found(self, secret_id: str) -> Response:
        return self._fail(404, f"Secret [{self._name(secret_id)}] not found or has no versions.")

    def _secret_json(self, secret_id: str) -> dict:
        secret = self.secrets[secret_id]
        return {"name": self._name(secret_id), "replication": {"automatic": {}},
                "createTime": secret.create_time, "labels": secret.labels}

    def _version_json(self, secret_id: str, number: str) -> dict:
        version = self.secrets[secret_id].versions[number]
        return {"name": f"{self._name(secret_id)}/versions/{number}",
                "createTime": version.create_time, "state": version.state,
                "clientSpecifiedPayloadChecksum": version.client_checksum}


def _page(request: Request, key: str, items: list) -> Response:
    """Offset-token paging, as the real list calls page (pageSize, pageToken)."""
    start = int(request.args.get("pageToken") or 0)
    size = int(request.args.get("pageSize") or 0) or len(items)
    body: dict = {key: items[start:start + size], "totalSize": len(items)}
    if start + size < len(items):
        body["nextPageToken"] = str(start + size)
    return _json(body)


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")

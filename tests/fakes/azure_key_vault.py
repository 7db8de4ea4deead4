"""A fake Azure Key Vault (secrets API) and Entra ID token service on one HTTPS
server, as much as the azure provider uses.

TLS uses a certificate for 127.0.0.1 and localhost from a ``trustme`` CA: point
``REQUESTS_CA_BUNDLE`` at the CA's PEM. Like Key Vault, a request without a
token it issued gets a 401 bearer challenge naming this server as the authority;
versions are dated to the second and listed in version-id order; a deleted
secret stays soft-deleted (its name taken) until purged or recovered.
"""

from __future__ import annotations

import json
import re
import secrets
import ssl
import time
import uuid
from dataclasses import dataclass, field

import trustme
from werkzeug.wrappers import Request, Response

from tests.fakes import FakeServer

_ERROR_CODES = {400: "BadParameter", 401: "Unauthorized", 403: "Forbidden",
                404: "SecretNotFound", 409: "Conflict", 429: "Throttled",
                500: "InternalServerError", 503: "ServiceUnavailable"}
_SECRET_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
_MAX_VALUE_BYTES = 25 * 1024
_NAME = r"(?P<name>[^/]+)"


@dataclass
class FakeVersion:
    id: str
    value: str
    tags: dict[str, str] | None
    content_type: str | None
    created: int = field(default_factory=lambda: int(time.time()))  # whole seconds, as Key Vault
    enabled: bool = True


class FakeKeyVault(FakeServer):
    """``secrets`` and ``deleted`` map a name to its versions, oldest first.
    ``token_requests`` lists the form of every token request; ``challenges``
    counts the 401 bearer challenges sent."""

    tenant_id = "72f988bf-0000-4000-8000-00000000c0de"
    client_id = "kps-test-client"
    client_secret = "kps-test-client-secret"

    def __init__(self, ca: trustme.CA):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.clear()
        super().__init__(ssl_context=context)
        self.url = f"https://127.0.0.1:{self.port}"
        self._routes = [
            ("PUT", rf"/secrets/{_NAME}/?", self._set),
            ("GET", r"/secrets/?", self._list),
            ("GET", rf"/secrets/{_NAME}/versions/?", self._versions),
            ("GET", rf"/secrets/{_NAME}/?", self._get),
            ("GET", rf"/secrets/{_NAME}/(?P<version>[^/]+)/?", self._get),
            ("DELETE", rf"/secrets/{_NAME}/?", self._delete),
            ("GET", rf"/deletedsecrets/{_NAME}/?", self._get_deleted),
            ("DELETE", rf"/deletedsecrets/{_NAME}/?", self._purge),
            ("POST", rf"/deletedsecrets/{_NAME}/recover/?", self._recover),
        ]

    def clear(self) -> None:
        self.secrets: dict[str, list[FakeVersion]] = {}
        self.deleted: dict[str, list[FakeVersion]] = {}
        self.tokens: set[str] = set()
        self.token_requests: list[dict[str, str]] = []
        self.challenges = 0

    def is_api(self, request: Request) -> bool:
        return request.path.startswith(("/secrets", "/deletedsecrets"))

    def handle(self, request: Request) -> Response:
        if not self.is_api(request):
            return self._identity(request)
        if request.authorization is None or request.authorization.token not in self.tokens:
            self.challenges += 1
            response = self._fail(401, "Unauthorized", "Request is missing a valid Bearer token.")
            response.headers["WWW-Authenticate"] = (
                f'Bearer authorization="{self.url}/{self.tenant_id}", '
                'resource="https://vault.azure.net"')
            return response
        for method, pattern, view in self._routes:
            match = re.fullmatch(pattern, request.path)
            if match and request.method == method:
                return view(request, **match.groupdict())
        return self._fail(400, "BadParameter", "Unknown operation.")

    def error(self, status: int, retry_after: int | None = None) -> Response:
        response = self._fail(status, _ERROR_CODES.get(status, "Error"), "Injected failure.")
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    # --- Entra ID ----------------------------------------------------------

    def _identity(self, request: Request) -> Response:
        base = f"{self.url}/{self.tenant_id}"
        if request.path == f"/{self.tenant_id}/v2.0/.well-known/openid-configuration":
            return _json({"issuer": f"{base}/v2.0",
                          "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                          "token_endpoint": f"{base}/oauth2/v2.0/token",
                          "jwks_uri": f"{base}/discovery/v2.0/keys"})
        if request.method == "POST" and request.path == f"/{self.tenant_id}/oauth2/v2.0/token":
            form = request.form.to_dict()
            self.token_requests.append({k: v for k, v in form.items() if k != "client_secret"})
            if (form.get("grant_type") != "client_credentials"
                    or form.get("client_id") != self.client_id
                    or form.get("client_secret") != self.client_secret):
                return _json({"error": "invalid_client",
                              "error_description": "Invalid client secret provided."}, 401)
            token = secrets.token_urlsafe(24)
            self.tokens.add(token)
            return _json({"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                          "access_token": token})
        return _json({"error": "invalid_request"}, 400)

    # --- secrets -----------------------------------------------------------

    def _set(self, request: Request, name: str) -> Response:
        if not _SECRET_NAME.fullmatch(name):
            return self._fail(400, "BadParameter", "Invalid secret name.")
        if name in self.deleted:
            return self._fail(409, "Conflict", f"Secret {name} is currently in a deleted but "
                              "recoverable state.", inner="ObjectIsDeletedButRecoverable")
        body = request.get_json(silent=True) or {}
        value = body.get("value")
        if not isinstance(value, str) or len(value.encode("utf-8")) > _MAX_VALUE_BYTES:
            return self._fail(400, "BadParameter", "Invalid secret value.")
        version = FakeVersion(id=uuid.uuid4().hex, value=value, tags=body.get("tags"),
                              content_type=body.get("contentType"))
        self.secrets.setdefault(name, []).append(version)
        return _json(self._bundle(name, version))

    def _get(self, request: Request, name: str, version: str | None = None) -> Response:
        versions = self.secrets.get(name, [])
        found = [v for v in versions if version in (None, v.id)][-1:]
        if not found:
            return self._fail(404, "SecretNotFound", f"A secret with (name/id) {name} was not "
                              "found in this key vault.")
        return _json(self._bundle(name, found[0]))

    def _versions(self, request: Request, name: str) -> Response:
        # Key Vault answers an unknown name with an empty list, in version-id order.
        versions = sorted(self.secrets.get(name, []), key=lambda v: v.id)
        return self._page(request, [self._bundle(name, v, value=False) for v in versions])

    def _list(self, request: Request) -> Response:
        items = []
        for name, versions in self.secrets.items():
            item = self._bundle(name, versions[-1], value=False)
            item["id"] = f"{self.url}/secrets/{name}"
            items.append(item)
        return self._page(request, items)

    def _delete(self, request: Request, name: str) -> Response:
        if name not in self.secrets:
            return self._fail(404, "SecretNotFound", f"A secret with (name/id) {name} was not "
                              "found in this key vault.")
        self.deleted[name] = self.secrets.pop(name)
        return _json(self._deleted_bundle(name))

    def _get_deleted(self, request: Request, name: str) -> Response:
        if name not in self.deleted:
            return self._fail(404, "SecretNotFound", f"Deleted Secret not found: {name}")
        return _json(self._deleted_bundle(name))

    def _purge(self, request: Request, name: str) -> Response:
        if self.deleted.pop(name, None) is None:
            return self._fail(404, "SecretNotFound", f"Deleted Secret not found: {name}")
        return Response(status=204)

    def _recover(self, request: Request, name: str) -> Response:
        if name not in self.deleted:
            return self._fail(404, "SecretNotFound", f"Deleted Secret not found: {name}")
        self.secrets[name] = self.deleted.pop(name)
        return _json(self._bundle(name, self.secrets[name][-1], value=False))

    # --- representations ---------------------------------------------------

    def _bundle(self, name: str, version: FakeVersion, value: bool = True) -> dict:
        bundle = {"id": f"{self.url}/secrets/{name}/{version.id}",
                  "attributes": {"enabled": version.enabled, "created": version.created,
                                 "updated": version.created,
                                 "recoveryLevel": "Recoverable+Purgeable",
                                 "recoverableDays": 90}}
        if value:
            bundle["value"] = version.value
        if version.tags is not None:
            bundle["tags"] = version.tags
        if version.content_type is not None:
            bundle["contentType"] = version.content_type
        return bundle

    def _deleted_bundle(self, name: str) -> dict:
        bundle = self._bundle(name, self.deleted[name][-1], value=False)
        now = int(time.time())
        bundle.update(recoveryId=f"{self.url}/deletedsecrets/{name}", deletedDate=now,
                      scheduledPurgeDate=now + 90 * 24 * 3600)
        return bundle

    def _page(self, request: Request, items: list) -> Response:
        start = int(request.args.get("$skiptoken") or 0)
        size = int(request.args.get("maxresults") or 25)
        body: dict = {"value": items[start:start + size], "nextLink": None}
        if start + size < len(items):
            body["nextLink"] = (f"{self.url}{request.path}?$skiptoken={start + size}"
                                f"&maxresults={size}")
        return _json(body)

    @staticmethod
    def _fail(status: int, code: str, message: str, inner: str | None = None) -> Response:
        error: dict = {"code": code, "message": message}
        if inner:
            error["innererror"] = {"code": inner}
        return _json({"error": error}, status)


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")

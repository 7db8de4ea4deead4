"""The secrets service: references in MongoDB, values only in the provider.

MongoDB and a provider cannot share a transaction, so every change goes through
states: the reference is recorded first (pending, unique per owner and name), the
provider is written, then the reference is made active. A failure undoes what was
done; a crash leaves a pending or deleting reference that the reconciler finishes.
Every operation, success or failure, writes an audit event (never the value), and
a value is returned only after its read has been audited.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from flask import current_app, g

from audit.log import AuditUnavailable, event, record, record_many
from common.errors import ApiError, BadGateway, Conflict, GatewayTimeout, NotFound, PayloadTooLarge, ServiceUnavailable
from kms.providers.base import (AccessDenied, BadProviderConfig, ProviderError, ProviderTimeout, ProviderUnavailable,
                                SecretNotFound, SecretStore, Throttled)
from kms.read_cache import ReadCache
from kms.schemas import MAX_VALUE_BYTES
from models.secret_refs import PENDING, NameTaken, SecretRef

log = logging.getLogger(__name__)

FETCH_CONCURRENCY = 25  # provider calls at once for /get-all-secrets
MAX_LISTED = 1000
RECONCILE_AFTER_SECONDS = 120
SYSTEM = {"id": None, "email": "system", "role": "system"}


def _kps():
    return current_app.extensions["kps"]


def api_error(error: ProviderError) -> ApiError:
    """The contract's status for a provider failure; the message is our own fixed sentence."""
    reason = type(error).__name__
    if isinstance(error, ProviderTimeout):
        return GatewayTimeout(reason=reason)
    if isinstance(error, Throttled):
        return ServiceUnavailable("The secret provider is throttling requests; try again later.",
                                  retry_after=error.retry_after or 1, reason=reason)
    if isinstance(error, ProviderUnavailable):
        return ServiceUnavailable("The secret provider is unavailable; try again later.",
                                  retry_after=error.retry_after, reason=reason)
    if isinstance(error, (AccessDenied, BadProviderConfig)):
        return BadGateway("The secret provider refused the request; an admin should check its configuration.",
                          reason=reason)
    return BadGateway(reason=reason)


def _target(name: str) -> dict:
    return {"type": "secret", "name": name}


def _store(provider: str) -> SecretStore:
    try:
        store = _kps().stores.get(provider)
    except ProviderError as error:
        raise api_error(error) from None
    if store is None:
        raise Conflict(f"The {provider} provider is not configured yet; an admin must configure it first.",
                       reason="provider-not-configured")
    return store


def _configured_store(provider: str) -> SecretStore | None:
    try:
        return _store(provider)
    except ApiError:  # removed or unreadable configuration: reported per secret
        return None


def _owned(name: str, action: str) -> SecretRef:
    """The caller's active secret ``name``; 404 (audited as denied) for anything else."""
    ref = _kps().secret_refs.active(g.actor.user_id, name)
    if ref is None:
        record(action, "denied", 404, target=_target(name), reason="not-found")
        raise NotFound("No such secret.", reason="not-found")
    return ref


def _check_size(value: str) -> None:
    if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
        raise PayloadTooLarge(f"A secret value may be at most {MAX_VALUE_BYTES} bytes.", reason="value-too-large")


def _fail(action: str, name: str, error: ProviderError) -> ApiError:
    mapped = api_error(error)
    record(action, "failure", mapped.status, target=_target(name), reason=mapped.reason)
    return mapped


def create(name: str, value: str, description: str | None) -> dict:
    kps = _kps()
    _check_size(value)
    user = kps.users.by_id(g.actor.user_id)
    store = _store(user.kms)
    try:
        ref = kps.secret_refs.reserve(user.id, name, user.kms, description)
    except NameTaken:
        record("secret.create", "failure", 409, target=_target(name), reason="name-taken")
        raise Conflict("A secret with this name already exists.", reason="name-taken") from None
    try:
        provider_version = store.create(ref.object_name, value, {"owner": user.id, "name": name,
                                                                  "managed-by": "keyproxy"})
    except ProviderError as error:
        if isinstance(error, (ProviderTimeout, ProviderUnavailable)):
            _undo_create(store, ref)  # the provider may or may not have created it
        else:
            kps.secret_refs.remove(ref.id)  # refused outright: nothing was created
        raise _fail("secret.create", name, error) from None
    try:
        record("secret.create", "success", 201, target=_target(name))
    except AuditUnavailable:
        _undo_create(store, ref)
        raise
    ref = kps.secret_refs.activate(ref.id, provider_version)
    return {"name": ref.name, "provider": ref.provider, "version": 1,
            "kms_reference": f"{ref.provider}:{ref.object_name}", "created_at": ref.created_at}


def _undo_create(store: SecretStore, ref: SecretRef) -> None:
    """Remove what a failed create may have left. When the provider cannot confirm
    (it timed out, say, and may still finish the create), the reference stays
    pending, parked, and the reconciler removes both later: nothing is orphaned."""
    try:
        store.delete(ref.object_name)
    except SecretNotFound:
        pass
    except ProviderError:
        # Park the reference under a name no request can use, so the user may retry
        # the same name at once; the reconciler deletes the object and the reference.
        _kps().secret_refs.park(ref.id)
        log.warning("could not undo the provider object of reference %s; left to the reconciler", ref.id)
        return
    _kps().secret_refs.remove(ref.id)


def read(name: str, version: int | None = None, action: str = "secret.read") -> dict:
    ref = _owned(name, action)
    entry = ref.version(version) if version else ref.latest
    if entry is None:
        record(action, "failure", 404, target=_target(name), reason="no-such-version")
        raise NotFound("No such version of this secret.", reason="no-such-version")
    try:
        value = _read_value(_kps().read_cache, _store(ref.provider), ref, entry)
    except ProviderError as error:
        raise _fail(action, name, error) from None
    record(action, "success", 200, target=_target(name))  # before the value leaves: fail closed
    return {"name": ref.name, "value": value, "version": entry["version"], "provider": ref.provider,
            "created_at": ref.created_at, "updated_at": entry["created_at"]}


def _cache_key(ref: SecretRef, entry: dict) -> tuple:
    return (ref.provider, ref.object_name, entry["provider_version"])


def _read_value(cache: ReadCache, store: SecretStore, ref: SecretRef, entry: dict) -> str:
    """One version's value from the read cache (when enabled) or the provider."""
    key = _cache_key(ref, entry)
    value = cache.get(key)
    if value is None:
        value = store.read(ref.object_name, entry["provider_version"]).value
        cache.put(key, value)
    return value


def update(name: str, value: str) -> dict:
    kps = _kps()
    _check_size(value)
    ref = _owned(name, "secret.update")
    store = _store(ref.provider)
    number = kps.secret_refs.next_version(ref.id)
    if number is None:  # deleted meanwhile
        raise NotFound("No such secret.", reason="not-found")
    try:
        provider_version = store.add_version(ref.object_name, value)
    except ProviderError as error:
        raise _fail("secret.update", name, error) from None
    ref = kps.secret_refs.add_version(ref.id, number, provider_version)
    try:
        record("secret.update", "success", 200, target=_target(name))
    except AuditUnavailable:
        # Unreference the version: reads follow the reference, so the change is undone
        # (the provider keeps an unreferenced version that nothing returns).
        kps.secret_refs.drop_version(ref.id, number)
        raise
    entry = ref.version(number)
    return {"name": ref.name, "provider": ref.provider, "version": number,
            "kms_reference": f"{ref.provider}:{ref.object_name}", "created_at": entry["created_at"]}


def delete(name: str) -> None:
    kps = _kps()
    ref = kps.secret_refs.mark_deleting(g.actor.user_id, name)
    if ref is None:
        record("secret.delete", "denied", 404, target=_target(name), reason="not-found")
        raise NotFound("No such secret.", reason="not-found")
    try:
        record("secret.delete", "success", 204, target=_target(name))
    except AuditUnavailable:
        kps.secret_refs.restore(ref.id)
        raise
    kps.read_cache.forget(ref.provider, ref.object_name)
    try:
        _store(ref.provider).delete(ref.object_name)
    except SecretNotFound:
        pass
    except ProviderError as error:
        kps.secret_refs.restore(ref.id)
        raise _fail("secret.delete", name, error) from None
    kps.secret_refs.remove(ref.id)


def versions(name: str) -> dict:
    ref = _owned(name, "secret.versions")
    record("secret.versions", "success", 200, target=_target(name))
    return {"versions": [{"version": v["version"], "created_at": v["created_at"]} for v in ref.versions]}


def _meta(ref: SecretRef) -> dict:
    return {"name": ref.name, "provider": ref.provider, "version": ref.latest["version"],
            "description": ref.description, "created_at": ref.created_at, "updated_at": ref.latest["created_at"]}


def list_metadata(limit: int, cursor: str | None) -> dict:
    refs = _kps().secret_refs.page(g.actor.user_id, limit, after_name=cursor)
    record("secret.list", "success", 200, target=None)
    return {"secrets": [_meta(r) for r in refs], "next_cursor": refs[-1].name if len(refs) == limit else None}


def read_all() -> dict:
    """Every secret of the caller with its value. Values come from the read cache when
    enabled, else from the providers: in batches where a store reads several secrets
    per call (AWS), one by one otherwise, all calls concurrently (bounded pool)."""
    refs = _kps().secret_refs.page(g.actor.user_id, MAX_LISTED)
    results = _fetch_latest(refs)
    secrets, events = [], []
    for ref in refs:
        value, error = results[ref.id]
        outcome = "success" if error is None else "failure"
        events.append(event("secret.read", outcome, 200 if error is None else 502, target=_target(ref.name),
                            reason=error))
        item = {"secret_name": ref.name, "secret_value": value, "provider": ref.provider,
                "version": ref.latest["version"], "created_time": ref.created_at,
                "updated_time": ref.latest["created_at"]}
        if error:
            item["error"] = "The secret provider could not return this value."
        secrets.append(item)
    events.append(event("secret.list", "success", 200))
    record_many(events)  # one write for every read; before any value leaves
    return {"secrets": secrets}


def _fetch_latest(refs: list[SecretRef]) -> dict[str, tuple[str | None, str | None]]:
    """(value, error reason) of each reference's latest version, by reference id."""
    cache = _kps().read_cache
    stores = {provider: _configured_store(provider) for provider in {r.provider for r in refs}}
    results: dict[str, tuple[str | None, str | None]] = {}
    pending: dict[str, list[SecretRef]] = {}
    for ref in refs:
        value = cache.get(_cache_key(ref, ref.latest))
        if value is not None:
            results[ref.id] = (value, None)
        elif stores[ref.provider] is None:
            results[ref.id] = (None, "provider-unavailable")
        else:
            pending.setdefault(ref.provider, []).append(ref)
    # One task per provider call: chunks for stores that read several secrets per call
    # (kms.providers.base.BatchReader; hasattr, as stores come wrapped for metrics).
    tasks = []
    for provider, waiting in pending.items():
        store = stores[provider]
        size = store.batch_size if hasattr(store, "read_many") else 1
        tasks += [(store, waiting[i:i + size]) for i in range(0, len(waiting), size)]

    def fetch(task):  # runs in the pool: no Flask context here
        store, chunk = task
        if hasattr(store, "read_many"):
            read = store.read_many({ref.object_name: ref.latest["provider_version"] for ref in chunk})
            return [(ref, read[ref.object_name]) for ref in chunk]
        (ref,) = chunk
        try:
            return [(ref, store.read(ref.object_name, ref.latest["provider_version"]))]
        except ProviderError as error:
            return [(ref, error)]

    if tasks:
        with ThreadPoolExecutor(max_workers=min(FETCH_CONCURRENCY, len(tasks))) as pool:
            for done in pool.map(fetch, tasks):
                for ref, outcome in done:
                    if isinstance(outcome, ProviderError):
                        results[ref.id] = (None, type(outcome).__name__)
                    else:
                        cache.put(_cache_key(ref, ref.latest), outcome.value)
                        results[ref.id] = (outcome.value, None)
    return results


def reconcile(older_than_seconds: float = RECONCILE_AFTER_SECONDS) -> dict:
    """Finish what a crash left half done: pending creates are removed (never
    acknowledged), pending deletes are completed."""
    kps = _kps()
    done = {"removed_pending": 0, "finished_deletes": 0, "failed": 0}
    for ref in kps.secret_refs.stale(older_than_seconds):
        target = _target(ref.name)
        try:
            store = kps.stores.get(ref.provider)
            if store is None:  # the provider's configuration is gone: keep the reference
                raise BadProviderConfig()
            store.delete(ref.object_name)
        except SecretNotFound:
            pass
        except ProviderError as error:
            done["failed"] += 1
            record("secret.reconcile", "failure", None, target=target, reason=type(error).__name__, actor=SYSTEM)
            continue
        kps.secret_refs.remove(ref.id)
        done["removed_pending" if ref.state == PENDING else "finished_deletes"] += 1
        record("secret.reconcile", "success", None, target=target, reason=f"{ref.state} reference resolved",
               actor=SYSTEM)
    return done

"""The optional provider read cache: fewer provider calls, every read still authorised
and audited."""

import pytest

from tests.fixtures.app import audit_events


@pytest.fixture
def app_settings(app_settings):
    return {**app_settings, "KPS_CACHE_TTL_SECONDS": "60"}


@pytest.fixture
def owner(configure, make_user):
    configure("gcp")
    return make_user(kms="gcp")


def _accesses(gcp_fake) -> int:
    return sum(1 for r in gcp_fake.requests if r.startswith("GET") and r.endswith(":access"))


def test_a_cached_read_skips_the_provider_but_is_still_audited(owner, gcp_fake, db):
    owner.post("/api/v1/secrets", json={"name": "hot", "value": "v1"})
    for _ in range(3):
        assert owner.get("/api/v1/secrets/hot").get_json()["value"] == "v1"
    owner.get("/get-all-secrets")
    assert _accesses(gcp_fake) == 1
    assert len(audit_events(db, action="secret.read", **{"target.name": "hot"})) == 4


def test_a_new_version_is_read_from_the_provider_at_once(owner, gcp_fake):
    owner.post("/api/v1/secrets", json={"name": "hot", "value": "v1"})
    owner.get("/api/v1/secrets/hot")
    owner.put("/api/v1/secrets/hot", json={"value": "v2"})
    assert owner.get("/api/v1/secrets/hot").get_json()["value"] == "v2"


def test_cached_values_are_still_only_for_their_owner(owner, make_user):
    owner.post("/api/v1/secrets", json={"name": "hot", "value": "mine"})
    owner.get("/api/v1/secrets/hot")
    intruder = make_user(kms="gcp")
    assert intruder.get("/api/v1/secrets/hot").status_code == 404


def test_a_deleted_secret_is_not_served_from_the_cache(owner):
    owner.post("/api/v1/secrets", json={"name": "hot", "value": "old"})
    owner.get("/api/v1/secrets/hot")
    owner.delete("/api/v1/secrets/hot")
    assert owner.get("/api/v1/secrets/hot").status_code == 404


class TestCacheOff:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "KPS_CACHE_TTL_SECONDS": "0"}

    def test_every_read_goes_to_the_provider_by_default(self, owner, gcp_fake):
        owner.post("/api/v1/secrets", json={"name": "cold", "value": "v"})
        for _ in range(3):
            owner.get("/api/v1/secrets/cold")
        assert _accesses(gcp_fake) == 3


def test_the_cache_is_bounded_least_recently_used_first():
    from kms.read_cache import ReadCache

    cache = ReadCache(ttl_seconds=60, max_entries=2)
    cache.put(("p", "a", "1"), "A")
    cache.put(("p", "b", "1"), "B")
    cache.get(("p", "a", "1"))
    cache.put(("p", "c", "1"), "C")
    assert cache.get(("p", "b", "1")) is None
    assert (cache.get(("p", "a", "1")), cache.get(("p", "c", "1"))) == ("A", "C")
    assert "A" not in repr(cache)

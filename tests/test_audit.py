"""The audit trail: content, reading, tamper evidence, concurrency and failing closed."""

import json
import os
import socket
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pymongo
import pytest

from audit.chain import verify
from audit.log import AuditLog, AuditUnavailable
from audit.sequencer import HostSequencer
from kms.crypto import Keyring
from models.audit_events import GENESIS_HASH, AuditEvents, key
from tests.fixtures.app import PASSWORD, audit_events

ROOT = Path(__file__).resolve().parent.parent
EVENT_FIELDS = {"id", "timestamp", "action", "outcome", "status", "actor", "target", "ip", "user_agent",
                "request_id", "reason"}


@pytest.fixture
def owner(make_user):
    return make_user("owner@example.com", kms="local")


def _events(admin, **params):
    response = admin.get("/api/v1/audit/events", query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# -- content -----------------------------------------------------------------------------

def test_a_secret_read_is_one_event_with_the_contract_shape(admin, owner):
    owner.post("/api/v1/secrets", json={"name": "x", "value": "v"})
    owner.get("/api/v1/secrets/x", headers={"User-Agent": "mdm-app/2.1", "X-Request-ID": "req-77"})
    [event] = _events(admin, action="secret.read")["logs"]
    assert set(event) == EVENT_FIELDS
    assert event["outcome"] == "success" and event["status"] == 200
    assert event["actor"] == {"id": owner.id, "email": owner.email, "role": "user"}
    assert event["target"] == {"type": "secret", "name": "x"}
    assert event["ip"] == "127.0.0.1" and event["user_agent"] == "mdm-app/2.1" and event["request_id"] == "req-77"
    assert event["timestamp"].endswith("Z") and datetime.fromisoformat(event["timestamp"])


@pytest.mark.parametrize("do, action, outcome, status", [
    (lambda c, u: c.get("/api/v1/auth/me"), "request.denied", "denied", 401),
    (lambda c, u: c.get("/api/v1/auth/me", headers={"Authorization": "Bearer a.b.c"}), "request.denied", "denied", 401),
    (lambda c, u: u.get("/api/v1/audit/events"), "request.denied", "denied", 403),
    (lambda c, u: u.get("/api/v1/secrets/someone-elses"), "secret.read", "denied", 404),
    (lambda c, u: c.post("/login", json={"email": u.email, "password": "wrong password!"}), "auth.login", "denied", 401),
])
def test_each_kind_of_denied_request_is_recorded(client, db, owner, do, action, outcome, status):
    before = len(audit_events(db))
    do(client, owner)
    new = audit_events(db)[before:]
    assert [(e["action"], e["outcome"], e["status"]) for e in new] == [(action, outcome, status)]


def test_events_never_contain_values_passwords_tokens_or_credentials(client, admin, owner, configure, db):
    configure("aws")
    admin.post("/configure-kms", json={"provider": "aws", "region": "us-east-1",
                                       "credentials": {"access_key_id": "AKIAPLAINTEXT", "secret_access_key": "CREDSECRET"}})
    owner.post("/api/v1/secrets", json={"name": "s", "value": "VALUE-PLAINTEXT"})
    owner.put("/api/v1/secrets/s", json={"value": "VALUE-TWO"})
    owner.get("/get-all-secrets")
    client.post("/login", json={"email": owner.email, "password": "a wrong password"})
    owner.post("/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "NEW-PASSWORD-123"})
    everything = json.dumps(_events(admin, limit=500)) + json.dumps(audit_events(db), default=str)
    for secret in ("VALUE-PLAINTEXT", "VALUE-TWO", "CREDSECRET", "AKIAPLAINTEXT", PASSWORD, "NEW-PASSWORD-123",
                   "a wrong password", owner.tokens["access_token"], owner.tokens["refresh_token"]):
        assert secret not in everything


def test_reading_the_audit_log_is_itself_audited(admin):
    _events(admin, action="auth.login")
    assert _events(admin, action="audit.read")["logs"][0]["actor"]["email"] == admin.email


def test_the_audit_log_is_admin_only(owner):
    assert owner.get("/audit-logs").status_code == 403
    assert owner.get("/api/v1/audit/verify").status_code == 403


# -- reading -------------------------------------------------------------------------------

def test_original_endpoint_returns_logs_newest_first(admin, owner):
    logs = admin.get("/audit-logs").get_json()["logs"]
    ids = [int(e["id"]) for e in logs]
    assert ids == sorted(ids, reverse=True)


def test_filters_by_action_actor_outcome_and_time(admin, owner, client):
    client.post("/login", json={"email": owner.email, "password": "a wrong password"})
    assert {e["action"] for e in _events(admin, action="auth.login")["logs"]} == {"auth.login"}
    by_actor = _events(admin, actor=owner.email.upper())["logs"]
    assert by_actor and all(e["actor"]["email"] == owner.email for e in by_actor)
    assert {e["outcome"] for e in _events(admin, outcome="denied")["logs"]} == {"denied"}
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert _events(admin, since=future)["logs"] == []
    assert _events(admin, until="2000-01-01T00:00:00Z")["logs"] == []


def test_who_read_secret_x_is_one_call(admin, owner):
    owner.post("/api/v1/secrets", json={"name": "payroll-db", "value": "v"})
    owner.get("/api/v1/secrets/payroll-db")
    logs = _events(admin, action="secret.read", target="payroll-db")["logs"]
    assert [(e["actor"]["email"], e["ip"]) for e in logs] == [(owner.email, "127.0.0.1")]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"outcome": "maybe"}, {"since": "yesterday"},
                                    {"cursor": "not-a-cursor"}, {"action": "$ne"}, {"format": "xml"}])
def test_bad_filters_are_400(admin, params):
    assert admin.get("/api/v1/audit/events", query_string=params).status_code == 400


def test_pagination_is_stable_while_events_keep_arriving(admin, make_user):
    for _ in range(5):
        make_user()
    first = _events(admin, limit=3, action="auth.signup")
    for _ in range(3):  # new events arrive between pages
        make_user()
    seen = [e["id"] for e in first["logs"]]
    cursor = first["next_cursor"]
    while cursor:
        page = _events(admin, limit=3, action="auth.signup", cursor=cursor)
        seen += [e["id"] for e in page["logs"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 5
    assert [int(i) for i in seen] == sorted((int(i) for i in seen), reverse=True)


def test_ndjson_export_streams_every_matching_event(admin, make_user):
    for _ in range(3):
        make_user()
    response = admin.get("/api/v1/audit/events?format=ndjson&action=auth.signup")
    assert response.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert len(lines) == 3 and all(set(e) == EVENT_FIELDS for e in lines)


def test_cli_export_writes_ndjson(runner, make_user):
    make_user()
    result = runner.invoke(args=["kps", "audit", "export", "--action", "auth.signup"])
    assert result.exit_code == 0
    assert [json.loads(line)["action"] for line in result.output.splitlines()] == ["auth.signup"]


# -- tamper evidence -------------------------------------------------------------------------

@pytest.fixture
def history(admin, owner):
    for i in range(3):
        owner.post("/api/v1/secrets", json={"name": f"s{i}", "value": "v"})
    return admin


def _verify(admin, **params):
    response = admin.get("/api/v1/audit/verify", query_string=params)
    assert response.status_code == 200
    return response.get_json()


def test_verify_passes_on_an_intact_log(history, db):
    result = _verify(history)
    assert result["valid"] is True and result["first_bad"] is None
    assert result["checked"] == len(audit_events(db)) - 1  # the verify's own event comes after
    assert result["head"]["seq"] == result["checked"] and len(result["head"]["hash"]) == 64


def test_verify_names_a_modified_event(history, db):
    db.audit_events.update_one({"_id": key(4)}, {"$set": {"actor.email": "someone-else@example.com"}})
    result = _verify(history)
    assert result["valid"] is False and result["first_bad"] == "4"


def test_verify_names_the_event_after_a_deleted_one(history, db):
    db.audit_events.delete_one({"_id": key(3)})
    assert _verify(history)["first_bad"] == "4"


def test_verify_detects_two_swapped_events(history, db):
    a, b = db.audit_events.find_one({"_id": key(3)}), db.audit_events.find_one({"_id": key(4)})
    db.audit_events.replace_one({"_id": key(3)}, {**b, "_id": key(3)})
    db.audit_events.replace_one({"_id": key(4)}, {**a, "_id": key(4)})
    assert _verify(history)["first_bad"] == "3"


def test_a_forged_hash_cannot_repair_the_chain_without_the_key(history, db):
    import hashlib

    doc = db.audit_events.find_one({"_id": key(2)})
    forged_hash = hashlib.sha256(b"attacker recomputes without the server key").hexdigest()
    db.audit_events.update_one({"_id": key(2)}, {"$set": {"action": "auth.logout", "hash": forged_hash}})
    assert _verify(history)["first_bad"] == "2"
    assert doc["hash"] != forged_hash


def test_deleting_the_newest_events_is_caught_against_a_kept_head(history, db):
    head = _verify(history)["head"]
    newest = int(db.audit_events.find_one(sort=[("_id", -1)])["_id"])
    db.audit_events.delete_many({"_id": {"$gte": key(newest - 2)}})
    assert _verify(history)["valid"] is True  # a shorter chain is internally consistent...
    result = _verify(history, head=f"{head['seq']}:{head['hash']}")
    assert result["valid"] is False  # ...but not against the head an auditor kept


def test_cli_verify_exits_non_zero_naming_the_first_bad_event(runner, history, db):
    assert runner.invoke(args=["kps", "audit", "verify"]).exit_code == 0
    db.audit_events.update_one({"_id": key(2)}, {"$set": {"status": 500}})
    result = runner.invoke(args=["kps", "audit", "verify"])
    assert result.exit_code == 1 and "first bad event 2" in result.output


# -- concurrency -----------------------------------------------------------------------------

def test_concurrent_writers_in_threads_leave_a_chain_without_forks_or_gaps(app, admin, owner):
    def work():
        client = app.test_client()
        for _ in range(10):
            client.get("/api/v1/auth/me", headers=owner.headers)
            client.get("/api/v1/auth/me")  # a denied request: one more event

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _verify(admin)["valid"] is True


def test_concurrent_batches_stay_in_order_and_verify(app, admin):
    from audit.log import event, record_many

    def work(n):
        with app.test_request_context():
            for _ in range(5):
                record_many([event("test.batch", "success", 200, target={"type": "t", "name": f"{n}-{i}"})
                             for i in range(5)])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    logs = _events(admin, action="test.batch", limit=500)["logs"]
    assert len(logs) == 100
    assert _verify(admin)["valid"] is True


def test_two_processes_writing_at_once_leave_a_chain_that_verifies(app_settings, admin, db):
    script = (
        "import sys, json; from app import create_app; from audit.log import record\n"
        "app = create_app(json.loads(sys.argv[1]))\n"
        "with app.test_request_context():\n"
        "    for i in range(40): record('test.write', 'success', 200, target={'type': 'n', 'name': str(i)})\n"
    )
    settings = {**app_settings, "KPS_BOOTSTRAP_ADMIN_EMAIL": ""}
    writers = [subprocess.Popen([sys.executable, "-c", script, json.dumps(settings)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
    assert db.audit_events.count_documents({"action": "test.write"}) == 80
    assert _verify(admin)["valid"] is True


# -- failing closed --------------------------------------------------------------------------

def _break_audit_log(db):
    """Make every audit write fail on the server: a validator no event satisfies."""
    db.drop_collection("audit_events")
    db.create_collection("audit_events", validator={"$jsonSchema": {"required": ["never-present"]}})


def test_a_secret_read_returns_no_value_when_its_event_cannot_be_written(owner, db):
    owner.post("/api/v1/secrets", json={"name": "guarded", "value": "MUST-NOT-LEAK"})
    _break_audit_log(db)
    response = owner.get("/api/v1/secrets/guarded")
    assert response.status_code == 503
    assert "MUST-NOT-LEAK" not in response.get_data(as_text=True)
    assert "MUST-NOT-LEAK" not in owner.get("/get-all-secrets").get_data(as_text=True)


def test_a_secret_write_is_undone_when_its_event_cannot_be_written(owner, db, app):
    owner.post("/api/v1/secrets", json={"name": "kept", "value": "one"})
    _break_audit_log(db)
    assert owner.post("/api/v1/secrets", json={"name": "new", "value": "v"}).status_code == 503
    assert owner.put("/api/v1/secrets/kept", json={"value": "two"}).status_code == 503
    assert owner.delete("/api/v1/secrets/kept").status_code == 503
    refs = {r["name"]: r for r in db.secret_refs.find({"owner_id": owner.id})}
    assert set(refs) == {"kept"} and refs["kept"]["state"] == "active"
    assert [v["version"] for v in refs["kept"]["versions"]] == [1]
    assert db.local_secrets.count_documents({}) == 1


# -- finding the chain's head ------------------------------------------------------------------

def _positions(mongo_db, numbers) -> AuditEvents:
    events = AuditEvents(mongo_db)
    events.insert_many([{"_id": n, "hash": f"hash-{n}"} for n in numbers])
    return events


def test_the_head_of_an_empty_log_is_genesis(mongo_db):
    assert AuditEvents(mongo_db).head() == AuditEvents(mongo_db).likely_head() == (0, GENESIS_HASH)


@pytest.mark.parametrize("deleted", [[], [50], [99], [100], [98, 99]])
def test_the_likely_head_is_a_stored_position_at_or_below_the_head(mongo_db, deleted):
    events = _positions(mongo_db, [n for n in range(1, 101) if n not in deleted])
    seq, digest = events.likely_head()
    assert digest == f"hash-{seq}" and seq <= events.head()[0]
    assert (seq, digest) == events.head() or deleted


@pytest.mark.parametrize("ahead", [1, 5, 40])
def test_a_writer_behind_the_head_chains_after_the_events_it_did_not_see(mongo_db, ahead):
    keyring = Keyring(os.urandom(32))
    behind, other = AuditLog(AuditEvents(mongo_db), keyring), AuditLog(AuditEvents(mongo_db), keyring)
    behind.append({"action": "first"})
    for _ in range(ahead):
        other.append({"action": "elsewhere"})
    stored = behind.append_many([{"action": "late"}, {"action": "later"}])
    assert [d["_id"] for d in stored] == [ahead + 2, ahead + 3]
    assert verify(keyring, AuditEvents(mongo_db).ascending()).valid


def test_after_events_were_deleted_new_ones_go_after_the_head(mongo_db):
    keyring = Keyring(os.urandom(32))
    log = AuditLog(AuditEvents(mongo_db), keyring)
    log.append_many([{"action": "n"} for _ in range(30)])
    mongo_db.audit_events.delete_many({"_id": {"$in": [key(n) for n in range(5, 25)]}})
    fresh = AuditLog(AuditEvents(mongo_db), keyring)  # e.g. a restarted worker
    assert fresh.append({"action": "after"})["_id"] == 31


# -- this host's writers take turns ------------------------------------------------------------

def test_writers_sharing_a_sequencer_chain_after_each_other_and_leave_the_head(mongo_db, tmp_path):
    keyring, path = Keyring(os.urandom(32)), tmp_path / "audit-head.lock"
    one, two = (AuditLog(AuditEvents(mongo_db), keyring, HostSequencer(path)) for _ in range(2))
    positions = [writer.append({"action": "turn"})["_id"] for writer in (one, two, one, one, two)]
    assert positions == [1, 2, 3, 4, 5]
    assert HostSequencer(path).last_head() == AuditEvents(mongo_db).head()
    assert verify(keyring, AuditEvents(mongo_db).ascending()).valid


@pytest.mark.parametrize("left", ["7 " + "a" * 64 + "\n", "1 " + "b" * 64 + "\n", "garbage\n"])
def test_a_head_left_for_another_database_is_not_trusted(mongo_db, tmp_path, left):
    path = tmp_path / "audit-head.lock"
    path.write_text(left)
    keyring = Keyring(os.urandom(32))
    log = AuditLog(AuditEvents(mongo_db), keyring, HostSequencer(path))
    assert [log.append({"action": "first"})["_id"], log.append({"action": "second"})["_id"]] == [1, 2]
    assert verify(keyring, AuditEvents(mongo_db).ascending()).valid


# -- an unreachable database -------------------------------------------------------------------

@pytest.fixture
def unreachable_log():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=200)
    yield AuditLog(AuditEvents(client.kps), Keyring(os.urandom(32)))
    client.close()


@pytest.mark.parametrize("window, second_tried", [(3600, False), (0, True)])
def test_writers_queued_behind_a_write_that_could_not_reach_the_database_fail_at_once(
        unreachable_log, caplog, window, second_tried):
    unreachable_log.fail_fast_seconds = window
    with pytest.raises(AuditUnavailable):
        unreachable_log.append({"action": "first"})
    caplog.clear()
    with pytest.raises(AuditUnavailable):
        unreachable_log.append({"action": "second"})
    tried = "audit write failed: ServerSelectionTimeoutError" in caplog.text
    assert tried is second_tried and ("not tried" in caplog.text) is not second_tried


def test_without_a_usable_lock_file_writers_go_on_without_turns(mongo_db, tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the data directory should be")
    keyring = Keyring(os.urandom(32))
    log = AuditLog(AuditEvents(mongo_db), keyring, HostSequencer(blocked / "audit-head.lock"))
    assert [log.append({"action": "one"})["_id"], log.append({"action": "two"})["_id"]] == [1, 2]

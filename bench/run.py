"""`make bench` / `python -m bench.run [--workers N] [--quick]`: KeyProxy's benchmark.

What runs, each in its own process, all on 127.0.0.1:
  the database     the embedded mongoeco server, started with the same function
                   `make run` uses (common.server.start_embedded_database), or MONGO_URI
                   (then a database of its own, dropped afterwards)
  moto             `python -m moto.server`, the AWS provider's endpoint ...
  relay            ... reached through bench.relay, which holds every request back 20 ms
  the server       `python bench/serve.py`: common.server.serve (gunicorn gthread,
                   KPS_WORKERS x KPS_THREADS) plus a MongoDB command counter
  load             bench.load, the load generator

Phases: the audit log is seeded with --audit-events events before anything starts; a
server with the read cache on (KPS_CACHE_TTL_SECONDS=60) for the cached aws read; then a
server with it off for two identical passes (one with --quick) over every scenario at
each concurrency level, the filtered audit query last.
Prints a table and the issue's ratios; writes bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import mongoeco
import pymongo
import requests

from audit.chain import event_hash
from auth.passwords import hash_password, verify_password
from bench import dbcount
from bench.load import MAX_STRETCH
from bench.proc import Child, CpuMeter, children, free_port, memory_mib, stop
from common.config import load_settings
from common.server import start_embedded_database
from kms.crypto import Keyring
from models.audit_events import GENESIS_HASH, AuditEvents
from models.db import embedded_path
from models.embedded import engine as embedded_engine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

SCENARIOS = ("healthz", "me", "read-local", "read-aws", "read-aws-direct", "create", "get-all-aws", "login")
CACHE_SCENARIOS = ("read-aws", "read-aws-direct")
NOT_SERVED = {"read-aws-direct"}  # boto3 from the load process: no server CPU or database
AWS_SECRETS = 50
CACHE_TTL = "60"
PASSWORD = "bench password 0123456789"
USERS = {"local": "local", "aws": "aws", "writer": "local"}  # user -> provider
AUDIT_QUERY = "/api/v1/audit/events?action=secret.delete&limit=100"
SEED_BATCH = 5000
# Seeded audit events: 100 actions in these proportions, so the query's filter matches 1 %.
ACTION_MIX = (["secret.read"] * 60 + ["auth.login"] * 15 + ["secret.list"] * 10 + ["secret.create"] * 8
              + ["secret.update"] * 6 + ["secret.delete"])


@dataclass(frozen=True)
class Profile:
    warmup: float        # seconds of load before each measurement, not measured
    duration: float      # seconds measured per scenario and level
    min_requests: int    # measure longer (up to 3 x duration) until this many completed
    levels: tuple[int, ...]
    passes: int          # identical passes over the scenarios (memory growth needs 2)
    audit_events: int    # the audit log's size before the first request
    bcrypt_samples: int


FULL = Profile(warmup=0.5, duration=2.0, min_requests=20, levels=(1, 4, 16), passes=2, audit_events=100_000,
               bcrypt_samples=5)
QUICK = Profile(warmup=0.3, duration=1.0, min_requests=10, levels=(1, 16), passes=1, audit_events=10_000,
                bcrypt_samples=3)


def _email(user: str) -> str:
    return f"bench-{user}@example.com"


class Server:
    """`python bench/serve.py` on a free port; ready once a worker has answered."""

    def __init__(self, bench: "Bench", stack: ExitStack, name: str, extra_env: dict[str, str]):
        self.port = free_port()
        self.count_dir = bench.work / f"dbcount-{name}"
        env = {**bench.server_env, **extra_env, "KPS_PORT": str(self.port), "KPS_BENCH_COUNT_DIR": str(self.count_dir)}
        self.proc = Child([sys.executable, str(ROOT / "bench" / "serve.py")], r"Listening at: ",
                          bench.work / f"server-{name}.log", cwd=ROOT, env=env).proc
        stack.callback(stop, self.proc)
        self.url = f"http://127.0.0.1:{self.port}"
        # gunicorn listens before its workers have loaded the app: this waits in the backlog.
        requests.get(f"{self.url}/healthz", timeout=120).raise_for_status()

    def workers(self) -> list[int]:
        return children(self.proc.pid)

    def commands(self) -> int:
        return dbcount.total(str(self.count_dir))


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.profile = QUICK if args.quick else FULL
        if args.duration:
            self.profile = Profile(**{**asdict(self.profile), "duration": args.duration})
        if args.levels:
            self.profile = Profile(**{**asdict(self.profile), "levels": tuple(args.levels)})
        if args.audit_events is not None:
            self.profile = Profile(**{**asdict(self.profile), "audit_events": args.audit_events})
        self.stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        (ROOT / "var").mkdir(exist_ok=True)
        self.work = ROOT / "var" / f"bench-{self.stamp}"
        self.work.mkdir()
        overrides = {"KPS_DATA_DIR": str(self.work), "KPS_ENV": "development"}
        self.settings = load_settings(overrides)  # generates the development keys the servers will read
        self.db_name = self.settings.mongo_db if not self.settings.mongo_uri else f"kps_bench_{self.stamp}"
        self.workers = args.workers or self.settings.workers
        self.db_pid: int | None = None
        self.rows: list[dict] = []
        self.memory: dict[str, dict] = {}
        self.audit: dict = {}
        self.skipped: list[dict] = []
        self.bcrypt_ms: float | None = None
        self.load_at_start = os.getloadavg()

    # --- processes -----------------------------------------------------------------

    def start(self, stack: ExitStack) -> None:
        self.seed_audit()
        if self.settings.mongo_uri:
            self.uri = self.settings.mongo_uri
        else:
            db, self.uri = start_embedded_database(self.settings)
            self.db_pid = db.pid
            stack.callback(stop, db)
        self.client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000)
        stack.callback(self.client.close)
        if self.settings.mongo_uri:
            stack.callback(self._drop_databases)  # runs before the close above
        self.moto = Child([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(free_port())],
                          r"Running on http://127\.0\.0\.1:(\d+)", self.work / "moto.log", count=b'"POST / HTTP',
                          cwd=self.work)
        stack.callback(stop, self.moto.proc)
        relay = Child([sys.executable, "-m", "bench.relay", self.moto.match.group(1), "--delay-ms", str(self.args.delay_ms)],
                      r"^127\.0\.0\.1:(\d+)", self.work / "relay.log", cwd=ROOT)
        stack.callback(stop, relay.proc)
        self.relay_url = f"http://127.0.0.1:{relay.match.group(1)}"
        self.server_env = {
            **os.environ, **{k: str(v) for k, v in {
                "KPS_ENV": "development", "KPS_HOST": "127.0.0.1", "KPS_DATA_DIR": self.work,
                "MONGO_URI": self.uri, "KPS_MONGO_DB": self.db_name, "KPS_WORKERS": self.workers,
                "KPS_BOOTSTRAP_ADMIN_EMAIL": _email("admin"), "KPS_BOOTSTRAP_ADMIN_PASSWORD": PASSWORD,
                "KPS_RATE_LIMIT": "1000000/minute",      # the login scenario is one client IP
                "KPS_ACCESS_TOKEN_SECONDS": 3600,        # tokens outlive the run
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }.items()}}
        self.load = subprocess.Popen([sys.executable, "-m", "bench.load"], cwd=ROOT, text=True, env=self.server_env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=stack.enter_context(open(self.work / "load.log", "ab")))
        stack.callback(stop, self.load)

    def _drop_databases(self) -> None:
        for name in (self.db_name, f"{self.db_name}_ratelimits"):
            self.client.drop_database(name)

    def job(self, **job) -> dict:
        self.load.stdin.write(json.dumps(job) + "\n")
        self.load.stdin.flush()
        line = self.load.stdout.readline()
        if not line:
            raise RuntimeError(f"the load generator died; see {self.work / 'load.log'}")
        return json.loads(line)

    # --- set-up --------------------------------------------------------------------

    def setup(self, server: Server) -> None:
        """Admin configures aws (through the relay); three users; one local and 50 aws secrets."""
        http = requests.Session()

        def call(method: str, path: str, token: str | None = None, expect: int = 200, **body) -> dict:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = http.request(method, server.url + path, json=body or None, headers=headers, timeout=60)
            if response.status_code != expect:
                raise RuntimeError(f"set-up: {method} {path} answered {response.status_code}: {response.text[:300]}")
            return response.json() if response.content else {}

        def login(user: str) -> str:
            return call("POST", "/login", email=_email(user), password=PASSWORD)["access_token"]

        admin = login("admin")
        call("PUT", "/api/v1/kms/aws", admin, region="us-east-1", endpoint_url=self.relay_url, recovery_window_days=0,
             credentials={"access_key_id": "testing", "secret_access_key": "testing"})
        for user, provider in USERS.items():
            call("POST", "/signup", expect=201, email=_email(user), password=PASSWORD, kms_selection=provider)
        tokens = {"admin": admin, **{user: login(user) for user in USERS}}
        call("POST", "/api/v1/secrets", tokens["local"], expect=201, name="bench-local", value="l" * 64)
        with ThreadPoolExecutor(8) as pool:
            created = list(pool.map(lambda i: call("POST", "/api/v1/secrets", tokens["aws"], expect=201,
                                                   name=f"aws-{i:03d}", value="a" * 64), range(AWS_SECRETS)))
        s = self.settings
        self.context = {
            "host": "127.0.0.1", "tokens": tokens, "run_id": f"c{self.stamp}", "local_secret": "bench-local",
            "aws_secret": "aws-000", "aws_secrets": AWS_SECRETS, "audit_query": AUDIT_QUERY,
            "login": {"email": _email("local"), "password": PASSWORD}, "request_timeout": self.args.request_timeout,
            "aws": {"endpoint_url": self.relay_url, "region": "us-east-1", "access_key_id": "testing",
                    "secret_access_key": "testing", "object_name": created[0]["kms_reference"].split(":", 1)[1],
                    "connect_timeout": s.provider_connect_timeout, "read_timeout": s.provider_read_timeout,
                    "max_attempts": s.provider_max_attempts},
        }

    def bcrypt_verify_ms(self) -> float:
        """One verify at the configured cost, with the app's pre-hash, in this process."""
        stored = hash_password(PASSWORD, self.settings.bcrypt_rounds)
        samples = []
        for _ in range(self.profile.bcrypt_samples):
            started = time.perf_counter()
            verify_password(PASSWORD, stored)
            samples.append(time.perf_counter() - started)
        return round(statistics.median(samples) * 1000, 2)

    # --- measuring -----------------------------------------------------------------

    def use(self, server: Server) -> None:
        self.job(op="context", port=server.port, **self.context)

    def measure(self, server: Server, phase: str, scenario: str, level: int) -> dict:
        p = self.profile
        self.job(op="run", scenario=scenario, concurrency=level, duration=p.warmup, min_requests=0)
        audit_events = self.client[self.db_name]["audit_events"].estimated_document_count()
        app = CpuMeter(lambda: [server.proc.pid, *server.workers()])  # the gunicorn master and its workers
        db = CpuMeter(lambda: [self.db_pid] if self.db_pid else [])  # the embedded database
        app_before, db_before, commands_before = app.snapshot(), db.snapshot(), server.commands()
        aws_before = self.moto.counted
        row = self.job(op="run", scenario=scenario, concurrency=level, duration=p.duration, min_requests=p.min_requests)
        app_cpu, db_cpu = CpuMeter.used(app_before, app.snapshot()), CpuMeter.used(db_before, db.snapshot())
        commands, aws_calls = server.commands() - commands_before, self.moto.counted - aws_before
        served, n = scenario not in NOT_SERVED, max(row["requests"], 1)
        per_request = lambda value: round(value * 1000 / n, 3) if served else None  # noqa: E731
        row.update(phase=phase, audit_events=audit_events, aws_calls_per_req=round(aws_calls / n, 2),
                   db_cmds_per_req=round(commands / n, 2) if served else None,
                   cpu_ms_per_req=per_request(app_cpu + db_cpu),
                   db_cpu_ms_per_req=per_request(db_cpu) if self.db_pid else None,
                   worker_peak_mib=max((m["peak_mib"] for m in map(memory_mib, server.workers()) if m), default=None))
        self.rows.append(row)
        print(f"  {phase:<6} {scenario:<16} c={level:<3} {row['rps']:>8.1f} req/s  p50 {_ms(row['p50_ms'])} ms"
              f"  errors {row['errors']:<4} ({row['elapsed_s']:.1f} s, audit log {audit_events})", flush=True)
        return row

    def measure_levels(self, server: Server, phase: str, scenario: str) -> None:
        """Every level, lowest first. A level is skipped, with the ones above it, when the
        one below had timeouts, or when its throughput predicts (Little's law: latency =
        concurrency / throughput, once the server is saturated) a p50 longer than the
        longest window or the request timeout: such a level cannot give a median, and
        requests abandoned by the client would keep the server busy during the next
        measurements."""
        levels = self.profile.levels
        longest = min(self.args.request_timeout, MAX_STRETCH * self.profile.duration)
        for index, level in enumerate(levels):
            row = self.measure(server, phase, scenario, level)
            following = levels[index + 1] if index + 1 < len(levels) else None
            predicted = (following or 0) / max(row["rps"], 1e-9)  # Little: concurrency / throughput
            if following and (row["timeouts"] or predicted > longest):
                why = "timeouts" if row["timeouts"] else f"a predicted p50 of {predicted:.0f} s"
                print(f"  {phase:<6} {scenario:<16} c>={following} skipped after {why}", flush=True)
                self.skipped.append({"phase": phase, "scenario": scenario, "from_level": following, "why": why})
                return

    def snapshot_memory(self, server: Server, label: str) -> None:
        self.memory[label] = {str(pid): memory_mib(pid) for pid in server.workers()}

    def seed_audit(self) -> None:
        """Chain the audit log's first --audit-events events before any server starts (the
        servers go on from its head). Events are built as audit.log.AuditLog builds them
        and hashed with the app's event_hash and the servers' master key. The embedded
        database is written through mongoeco in this process, on the file its server will
        open (its wire protocol stores an insert one document at a time: 4x slower);
        MONGO_URI through pymongo."""
        target = self.profile.audit_events
        if self.settings.mongo_uri:
            client = pymongo.MongoClient(self.settings.mongo_uri, tz_aware=True)
        else:
            client = mongoeco.MongoClient(engine=embedded_engine(embedded_path(self.settings)))
        keyring = Keyring(self.settings.master_key, self.settings.previous_master_keys)
        started, seq, prev = time.monotonic(), 0, GENESIS_HASH
        print(f"seeding the audit log with {target:,} events", flush=True)
        try:
            events = AuditEvents(client[self.db_name])
            events.ensure_indexes()
            now = datetime.now(timezone.utc)
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # what MongoDB keeps
            while seq < target:
                docs = []
                for _ in range(min(SEED_BATCH, target - seq)):
                    seq += 1
                    doc = {"action": ACTION_MIX[seq % len(ACTION_MIX)], "outcome": "success", "status": 200,
                           "actor": {"id": f"seed-user-{seq % 500}", "email": f"seed-{seq % 500}@example.com",
                                     "role": "user"},
                           "target": {"type": "secret", "name": f"seed-secret-{seq % 1000}"}, "reason": None,
                           "ip": "10.0.0.1", "user_agent": "bench-seed", "request_id": f"seed-{seq}",
                           "_id": seq, "timestamp": now, "prev": prev, "kid": keyring.current_kid}
                    doc["hash"] = prev = event_hash(keyring, doc)
                    docs.append(doc)
                events.insert_many(docs)
        finally:
            client.close()
        self.audit.update(events=seq, seed_seconds=round(time.monotonic() - started, 1))
        print(f"  {seq:,} events in {self.audit['seed_seconds']} s", flush=True)

    def verify_audit(self, server: Server) -> None:
        token = self.context["tokens"]["admin"]
        started = time.monotonic()
        response = requests.get(f"{server.url}/api/v1/audit/verify", headers={"Authorization": f"Bearer {token}"},
                                timeout=900)
        self.audit["verify"] = {**response.json(), "status": response.status_code,
                                "seconds": round(time.monotonic() - started, 1)}
        print(f"  audit verify: {self.audit['verify']}", flush=True)

    # --- the run -------------------------------------------------------------------

    def run(self) -> None:
        """Everything; the report is written even when a phase fails (then marked incomplete)."""
        started, failure = time.monotonic(), None
        try:
            with ExitStack() as stack:
                self.phases(stack)
        except BaseException as error:
            failure = f"{type(error).__name__}: {error}"
            raise
        finally:
            if self.rows:
                self.report(time.monotonic() - started, failure)

    def phases(self, stack: ExitStack) -> None:
        self.start(stack)
        print(f"database {self.database()}, moto behind a {self.args.delay_ms:g} ms relay, "
              f"{self.workers} workers x {self.settings.threads} threads; work dir {self.work}", flush=True)

        cached = Server(self, stack, "cache", {"KPS_CACHE_TTL_SECONDS": CACHE_TTL})
        self.setup(cached)
        self.bcrypt_ms = self.bcrypt_verify_ms()
        self.use(cached)
        for scenario in CACHE_SCENARIOS:
            self.measure_levels(cached, "cache", scenario)
        stop(cached.proc)

        server = Server(self, stack, "main", {"KPS_CACHE_TTL_SECONDS": "0"})
        self.snapshot_memory(server, "start")
        self.use(server)
        for number in range(1, self.profile.passes + 1):
            for scenario in SCENARIOS:
                self.measure_levels(server, f"pass{number}", scenario)
            self.snapshot_memory(server, f"after_pass{number}")
        self.measure_levels(server, "audit", "audit-query")
        self.snapshot_memory(server, "end")
        self.verify_audit(server)
        stop(server.proc)

    def database(self) -> str:
        return "MONGO_URI" if self.settings.mongo_uri else "embedded mongoeco (SQLite)"

    # --- reporting -----------------------------------------------------------------

    def row(self, phase: str, scenario: str, level: int) -> dict | None:
        return next((r for r in self.rows if (r["phase"], r["scenario"], r["concurrency"]) == (phase, scenario, level)),
                    None)

    def ratios(self) -> list[dict]:
        one = lambda phase, scenario, key: (self.row(phase, scenario, 1) or {}).get(key)  # noqa: E731

        def ratio(number, name, top, bottom, limit, note=None):
            value = round(top / bottom, 3) if top is not None and bottom else None
            verdict = "n/a" if value is None or note else ("ok" if value <= limit else "MISS")
            return {"id": number, "name": name, "value": value, "limit": limit, "verdict": verdict, "note": note}

        cached_calls = one("cache", "read-aws", "aws_calls_per_req")
        cache_note = None
        if cached_calls is not None and cached_calls >= 0.5:
            cache_note = f"KPS_CACHE_TTL_SECONDS=60 had no effect: {cached_calls} provider calls per cached read"
        peaks = [m["peak_mib"] for m in self.memory.get("end", {}).values() if m]
        growth = [self.memory["after_pass2"][pid]["peak_mib"] / first["peak_mib"] - 1
                  for pid, first in self.memory.get("after_pass1", {}).items()
                  if first and self.memory.get("after_pass2", {}).get(pid)]
        db_reads = [one("pass1", name, "db_cmds_per_req") for name in ("read-local", "read-aws")]

        def app_cpu(phase, scenario):  # the server's CPU without the embedded database's
            total, db = one(phase, scenario, "cpu_ms_per_req"), one(phase, scenario, "db_cpu_ms_per_req")
            return None if total is None or db is None else round(total - db, 3)

        def time_spent(phase, scenario, direct):  # where a proxied read's extra time could go
            proxied, plain = one(phase, scenario, "p50_ms"), one(phase, direct, "p50_ms")
            return {"added_ms": None if proxied is None or plain is None else round(proxied - plain, 1),
                    "db_cpu_ms": one(phase, scenario, "db_cpu_ms_per_req"), "app_cpu_ms": app_cpu(phase, scenario)}

        app_local, app_floor = app_cpu("pass1", "read-local"), app_cpu("pass1", "healthz")
        return [
            {**ratio(1, "server CPU per local read / per /healthz", one("pass1", "read-local", "cpu_ms_per_req"),
                     one("pass1", "healthz", "cpu_ms_per_req"), 3),
             "detail": {"app_only": round(app_local / app_floor, 2) if app_local and app_floor else None,
                        "db_cpu_ms_per_read": one("pass1", "read-local", "db_cpu_ms_per_req")}},
            {**ratio(2, "DB round trips per secret read, incl. audit (max of local, aws)",
                     max(db_reads) if None not in db_reads else None, 1, 3), "detail": dict(zip(("local", "aws"), db_reads))},
            {**ratio(3, "p50 proxied aws read / direct boto3 read", one("pass1", "read-aws", "p50_ms"),
                     one("pass1", "read-aws-direct", "p50_ms"), 1.15),
             "detail": time_spent("pass1", "read-aws", "read-aws-direct")},
            {**ratio(4, "same, read cache on (60 s)", one("cache", "read-aws", "p50_ms"),
                     one("cache", "read-aws-direct", "p50_ms"), 0.3, cache_note),
             "detail": time_spent("cache", "read-aws", "read-aws-direct")},
            {**ratio(5, f"p50 /get-all-secrets ({AWS_SECRETS} aws) / one aws read", one("pass1", "get-all-aws", "p50_ms"),
                     one("pass1", "read-aws", "p50_ms"), 4),
             "detail": {"db_cpu_ms": one("pass1", "get-all-aws", "db_cpu_ms_per_req"),
                        "app_cpu_ms": app_cpu("pass1", "get-all-aws"),
                        "aws_calls": one("pass1", "get-all-aws", "aws_calls_per_req")}},
            ratio(6, "p50 login / one bcrypt verify", one("pass1", "login", "p50_ms"), self.bcrypt_ms, 1.2),
            ratio("7a", "peak memory per worker after all scenarios, MiB", max(peaks) if peaks else None, 1, 150),
            ratio("7b", "worker peak memory growth over a second identical pass",
                  max(growth) if growth else None, 1, 0.05,
                  None if self.profile.passes > 1 else "one pass only (--quick)"),
        ]

    def report(self, seconds: float, failure: str | None) -> None:
        ratios = self.ratios()
        result = {
            "started": self.stamp, "seconds": round(seconds, 1), "incomplete": failure, "commit": _git("rev-parse", "HEAD"),
            "uncommitted_files": len(_git("status", "--porcelain").splitlines()),
            "config": {"database": self.database(), "workers": self.workers, "threads": self.settings.threads,
                       "bcrypt_rounds": self.settings.bcrypt_rounds, "relay_delay_ms": self.args.delay_ms,
                       "cpus": os.cpu_count(), "load_average_at_start": self.load_at_start, "load_average_at_end": os.getloadavg(), **asdict(self.profile),
                       "audit_query": AUDIT_QUERY, "aws_secrets": AWS_SECRETS, "quick": self.args.quick},
            "bcrypt_verify_ms": self.bcrypt_ms, "results": self.rows, "skipped": self.skipped, "memory": self.memory,
            "audit": self.audit,
            "ratios": ratios,
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.stamp}.json"
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")
        self.print_table(ratios)
        print(f"\nwritten {path.relative_to(ROOT)} ({seconds:.0f} s)" + (f"; INCOMPLETE: {failure}" if failure else ""))

    def print_table(self, ratios: list[dict]) -> None:
        print(f"\n{'phase':<6} {'scenario':<16} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'pass2 p50':>9} "
              f"{'errors':>6} {'aws/req':>7} {'db/req':>6} {'cpu ms/req':>10} {'of it db':>8} {'audit log':>9}")
        for r in self.rows:
            if r["phase"] == "pass2":
                continue
            second = self.row("pass2", r["scenario"], r["concurrency"]) if r["phase"] == "pass1" else None
            errors = f"{r['errors']}/{second['errors']}" if second else str(r["errors"])
            print(f"{r['phase']:<6} {r['scenario']:<16} {r['concurrency']:>4} {r['rps']:>8.1f} {_ms(r['p50_ms'])} "
                  f"{_ms(r['p99_ms'])} {_ms(second['p50_ms'] if second else None, 9)} {errors:>6} "
                  f"{_num(r['aws_calls_per_req'], 7, 2)} "
                  f"{_num(r['db_cmds_per_req'], 6, 2)} {_num(r['cpu_ms_per_req'], 10, 2)} "
                  f"{_num(r['db_cpu_ms_per_req'], 8, 2)} {r['audit_events']:>9}")
        print("\nmemory per worker, MiB, peak (VmHWM) / proportional share (Pss):")
        for label, workers in self.memory.items():
            print(f"  {label:<12}", "  ".join(f"{m['peak_mib']:.1f} / {m['pss_mib']:.1f}" for m in workers.values() if m))
        print(f"one bcrypt verify (cost {self.settings.bcrypt_rounds}): {self.bcrypt_ms} ms")
        print("\nratios (concurrency 1, pass 1):")
        for r in ratios:
            value = "-" if r["value"] is None else f"{r['value']:.3g}"
            print(f"  ({r['id']}) {r['name']:<66} {value:>7}  limit {r['limit']:<5} {r['verdict']}"
                  + (f"  [{r['note']}]" if r["note"] else "") + (f"  {r['detail']}" if r.get("detail") else ""))


def _ms(value: float | None, width: int = 8) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.1f}"


def _num(value: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: KPS_WORKERS, else 2)")
    parser.add_argument("--quick", action="store_true", help="about a minute: shorter measurements, levels 1 and 16")
    parser.add_argument("--duration", type=float, help="seconds measured per scenario and level")
    parser.add_argument("--levels", type=int, nargs="+", help="concurrency levels, e.g. 1 4 16")
    parser.add_argument("--audit-events", type=int,
                        help="events in the audit log before the first request (default 100,000; --quick 10,000)")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="the relay's delay in front of moto")
    parser.add_argument("--request-timeout", type=float, default=30.0,
                        help="seconds before a request counts as a timeout error")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (database, logs) under var/")
    args = parser.parse_args(argv)
    bench = Bench(args)
    try:
        bench.run()
    except BaseException:
        print(f"bench failed; logs kept in {bench.work}", file=sys.stderr)
        raise
    if not args.keep:
        shutil.rmtree(bench.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

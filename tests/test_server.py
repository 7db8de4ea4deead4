"""`python app.py` as `make run` serves it: gunicorn, the embedded database in its own
process, accounts that survive a restart, and a clean stop on SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_healthy(base: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {process.stdout.read()}")
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)  # polling for a port to open, not synchronising with the app
    raise AssertionError("server did not become healthy")


@pytest.fixture
def serve(tmp_path):
    started = []

    def start(**env):
        port = _free_port()
        environment = {k: v for k, v in os.environ.items() if k != "MONGO_URI"}
        environment.update({"KPS_PORT": str(port), "KPS_DATA_DIR": str(tmp_path / "var"), "KPS_BCRYPT_ROUNDS": "4",
                            "KPS_WORKERS": "2", "KPS_THREADS": "2", **env})
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=environment,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        _wait_until_healthy(base, process)
        return base, process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _stop(process) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return output


def test_accounts_survive_a_restart_of_the_embedded_database(serve, tmp_path):
    base, process = serve()
    assert requests.post(f"{base}/signup", json={"email": "keep@example.com", "password": PASSWORD}).status_code == 201
    assert requests.get(f"{base}/readyz").status_code == 200
    output = _stop(process)
    assert process.returncode == 0
    assert "embedded mongoeco" in output
    database_file = tmp_path / "var" / "keyproxy.sqlite3"
    assert database_file.exists()
    embedded_left = subprocess.run(["pgrep", "-f", str(database_file)], capture_output=True)
    assert embedded_left.returncode == 1, "the embedded database outlived the server"

    base, process = serve()
    response = requests.post(f"{base}/login", json={"email": "keep@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert "gunicorn" in response.headers.get("Server", "").lower()
    _stop(process)


def test_production_refuses_to_start_without_keys(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET_KEY", "KPS_MASTER_KEY")}
    environment.update(KPS_ENV="production", KPS_DATA_DIR=str(tmp_path), KPS_PORT=str(_free_port()))
    result = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=environment, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode != 0
    assert "JWT_SECRET_KEY is required" in result.stderr


def test_metrics_count_requests_across_workers_with_bounded_labels(serve):
    def healthz_count(text: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("kps_http_requests_total{") and 'route="/healthz"' in line)

    base, process = serve()
    before = healthz_count(requests.get(f"{base}/metrics").text)
    for _ in range(10):  # a new connection each: spread over both workers
        requests.get(f"{base}/healthz")
    requests.get(f"{base}/api/v1/secrets/some-private-name")
    text = requests.get(f"{base}/metrics").text
    _stop(process)
    assert healthz_count(text) - before == 10
    assert "some-private-name" not in text
    assert 'route="/api/v1/secrets/<string(maxlength=200):name>"' in text


def test_logs_are_json_lines_with_request_ids_and_no_secrets(serve):
    import json

    base, process = serve(KPS_BOOTSTRAP_ADMIN_EMAIL="root@example.com", KPS_BOOTSTRAP_ADMIN_PASSWORD=PASSWORD)
    requests.post(f"{base}/signup", json={"email": "log@example.com", "password": PASSWORD})
    tokens = requests.post(f"{base}/login", json={"email": "log@example.com", "password": PASSWORD}).json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}", "X-Request-ID": "trace-log-1"}
    requests.post(f"{base}/api/v1/secrets", json={"name": "logged", "value": "VALUE-NEVER-LOGGED"}, headers=auth)
    requests.get(f"{base}/api/v1/secrets/logged", headers=auth)
    requests.post(f"{base}/login", json={"email": "log@example.com", "password": "WRONG-PASSWORD-LOGGED"})
    output = _stop(process)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "message"} <= line.keys() for line in lines)
    traced = [line for line in lines if line.get("request_id") == "trace-log-1"]
    assert traced and traced[-1]["route"] and traced[-1]["status"] == 200 and traced[-1]["actor_id"]
    for secret in ("VALUE-NEVER-LOGGED", PASSWORD, "WRONG-PASSWORD-LOGGED", tokens["access_token"]):
        assert secret not in output


def test_sigterm_lets_an_in_flight_request_finish_then_stops_everything(serve, gcp_fake):
    import threading

    base, process = serve(KPS_BOOTSTRAP_ADMIN_EMAIL="root@example.com", KPS_BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
                          KPS_PROVIDER_READ_TIMEOUT="20")
    admin = requests.post(f"{base}/login", json={"email": "root@example.com", "password": PASSWORD}).json()
    requests.put(f"{base}/api/v1/kms/gcp", json={"project_id": gcp_fake.project, "endpoint": gcp_fake.endpoint},
                 headers={"Authorization": f"Bearer {admin['access_token']}"}).raise_for_status()
    requests.post(f"{base}/signup", json={"email": "drain@example.com", "password": PASSWORD, "kms": "gcp"})
    user = requests.post(f"{base}/login", json={"email": "drain@example.com", "password": PASSWORD}).json()
    auth = {"Authorization": f"Bearer {user['access_token']}"}
    requests.post(f"{base}/api/v1/secrets", json={"name": "slow", "value": "drained"}, headers=auth).raise_for_status()

    gcp_fake.stall(on=":access")
    result = {}
    reader = threading.Thread(target=lambda: result.update(
        response=requests.get(f"{base}/api/v1/secrets/slow", headers=auth, timeout=60)))
    reader.start()
    assert gcp_fake.holding.wait(20), "the read never reached the provider"
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # wait for the listener to close: shutdown has begun
        try:
            requests.get(f"{base}/healthz", timeout=1)
        except requests.RequestException:
            break
        time.sleep(0.05)
    gcp_fake.release()
    reader.join(30)
    output, _ = process.communicate(timeout=30)
    assert result["response"].status_code == 200 and result["response"].json()["value"] == "drained"
    assert process.returncode == 0

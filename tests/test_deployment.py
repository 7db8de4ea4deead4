"""The container files, checked by reading them (no container engine runs in CI):
docker-compose.yml, Dockerfile and .dockerignore agree with .env.example and with the
settings common/config.py reads."""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Set by the image (Dockerfile ENV), so compose need not repeat them.
FIXED_BY_IMAGE = {"KPS_HOST": "0.0.0.0", "KPS_PORT": "5000", "KPS_DATA_DIR": "/app/var"}
# Needs a file mounted into the container; documented in docker-compose.yml instead.
NOT_IN_COMPOSE = {"REQUESTS_CA_BUNDLE"}
COMPILERS = ("gcc", "g++", "clang", "build-essential", "make", "cc ", "rustc", "cargo", "python3-dev",
             "libffi-dev", "libssl-dev")


# --- helpers ----------------------------------------------------------------------------------

def env_example_names() -> set[str]:
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def keyproxy_environment() -> dict[str, str]:
    environment = compose()["services"]["keyproxy"]["environment"]
    if isinstance(environment, list):  # the "NAME=value" list form
        environment = dict(item.split("=", 1) if "=" in item else (item, None) for item in environment)
    return {name: ("" if value is None else str(value)) for name, value in environment.items()}


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile as stages of (INSTRUCTION, arguments), continuation lines joined."""
    logical, current = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    stages: list[list[tuple[str, str]]] = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages.append([])
        assert stages, f"instruction before FROM: {line}"
        stages[-1].append((instruction, arguments.strip()))
    return stages


def final_stage() -> list[tuple[str, str]]:
    return dockerfile_stages()[-1]


def instructions(stage, name: str) -> list[str]:
    return [arguments for instruction, arguments in stage if instruction == name]


def dockerfile_env(stage) -> dict[str, str]:
    env = {}
    for arguments in instructions(stage, "ENV"):
        for item in shlex.split(arguments):
            if "=" in item:
                name, value = item.split("=", 1)
                env[name] = value
    return env


def names_read_by_config() -> set[str]:
    """Every environment variable name common/config.py reads: the first argument of each
    get("NAME", ...) / environ.get / getenv / setdefault call, NAME in subscripts, and
    SEED_VARIABLES."""
    tree = ast.parse((ROOT / "common" / "config.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            first = node.args[0]
            if called in {"get", "getenv", "setdefault"} and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str) and ENV_NAME.match(first.value):
                names.add(first.value)
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and isinstance(node.slice.value, str) and ENV_NAME.match(node.slice.value):
            names.add(node.slice.value)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SEED_VARIABLES"
                                                  for t in node.targets):
            names.update(element.value for element in node.value.elts)
    return names


# --- .env.example against config.py -----------------------------------------------------------

def test_the_scan_of_config_py_finds_the_known_settings():
    found = names_read_by_config()
    assert {"KPS_ENV", "JWT_SECRET_KEY", "KPS_MASTER_KEY", "MONGO_URI", "KPS_WORKERS",
            "AWS_ACCESS_KEY", "AZURE_VAULT_URL", "REQUESTS_CA_BUNDLE"} <= found
    assert len(found) >= 25


def test_every_variable_config_reads_is_listed_in_env_example():
    missing = names_read_by_config() - env_example_names()
    assert not missing, f"read by common/config.py but not in .env.example: {sorted(missing)}"


# --- docker-compose.yml -----------------------------------------------------------------------

def test_compose_has_the_mongo_and_keyproxy_services():
    services = compose()["services"]
    assert {"mongo", "keyproxy"} <= set(services)


def test_mongo_runs_as_a_replica_set_that_its_healthcheck_initiates():
    mongo = compose()["services"]["mongo"]
    assert re.fullmatch(r"mongo:8(\.\d+)*", mongo["image"])
    command = mongo["command"] if isinstance(mongo["command"], list) else shlex.split(mongo["command"])
    assert command[command.index("--replSet") + 1] == "rs0"
    assert "--bind_ip_all" in command
    test = mongo["healthcheck"]["test"]
    test = " ".join(test) if isinstance(test, list) else test
    assert "mongosh" in test and "--eval" in test and "--quiet" in test
    assert "rs.initiate" in test and "'rs0'" in test and "mongo:27017" in test
    assert any(str(v).split(":")[0] in compose().get("volumes", {}) for v in mongo["volumes"])


def test_keyproxy_builds_here_and_waits_for_a_healthy_mongo():
    keyproxy = compose()["services"]["keyproxy"]
    assert keyproxy["build"] in (".", {"context": "."})
    assert keyproxy["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert "5000:5000" in [str(p) for p in keyproxy["ports"]]


def test_keyproxy_container_is_read_only_restartable_and_stops_gracefully():
    keyproxy = compose()["services"]["keyproxy"]
    assert keyproxy["read_only"] is True
    tmpfs = [str(t).split(":")[0] for t in keyproxy["tmpfs"]]
    assert "/tmp" in tmpfs
    data_dir = FIXED_BY_IMAGE["KPS_DATA_DIR"]
    volumes = [str(v).split(":")[1] for v in keyproxy.get("volumes", [])]
    assert data_dir in tmpfs + volumes, "the data dir must be writable on a read-only root"
    assert keyproxy["restart"] == "unless-stopped"
    assert keyproxy["stop_grace_period"] == "30s"


def test_every_variable_compose_sets_is_listed_in_env_example():
    unknown = set(keyproxy_environment()) - env_example_names()
    assert not unknown, f"set in docker-compose.yml but not in .env.example: {sorted(unknown)}"


def test_every_setting_in_env_example_reaches_the_container():
    """A new setting in .env.example must be passed through compose (or set by the image)."""
    missing = env_example_names() - set(keyproxy_environment()) - set(FIXED_BY_IMAGE) - NOT_IN_COMPOSE
    assert not missing, f"in .env.example but not passed to the container: {sorted(missing)}"


def test_compose_sets_the_production_essentials():
    environment = keyproxy_environment()
    assert environment["KPS_ENV"] == "production"
    uri = environment["MONGO_URI"]
    assert uri.startswith("mongodb://mongo:27017/") and "replicaSet=rs0" in uri
    for key in ("JWT_SECRET_KEY", "KPS_MASTER_KEY"):
        assert re.fullmatch(rf"\$\{{{key}:\?.+\}}", environment[key]), \
            f"{key} must be required from the host environment: ${{{key}:?message}}"


def test_optional_values_come_from_the_host_never_hard_coded():
    environment = keyproxy_environment()
    for name in ("KPS_BOOTSTRAP_ADMIN_EMAIL", "KPS_BOOTSTRAP_ADMIN_PASSWORD", "AWS_ACCESS_KEY", "AWS_SECRET_KEY",
                 "GCP_CREDENTIALS_JSON", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
                 "AZURE_VAULT_URL", "KPS_PREVIOUS_MASTER_KEYS"):
        assert environment[name] == f"${{{name}:-}}", name
    for name in ("KPS_WORKERS", "KPS_THREADS", "KPS_TRUSTED_PROXIES", "KPS_RATE_LIMIT", "KPS_CORS_ORIGINS"):
        assert environment[name].startswith(f"${{{name}:-"), name


def test_compose_does_not_override_what_the_image_fixes():
    assert not set(FIXED_BY_IMAGE) & set(keyproxy_environment())


# --- Dockerfile -------------------------------------------------------------------------------

def test_dockerfile_is_multi_stage_on_python_3_13_slim():
    stages = dockerfile_stages()
    assert len(stages) >= 2
    assert instructions(stages[0], "FROM")[0].split()[0] == "python:3.13-slim"
    assert instructions(final_stage(), "FROM")[0].split()[0] == "python:3.13-slim"
    assert any("/opt/venv" in run and "pip install" in run and "requirements.txt" in run
               for run in instructions(stages[0], "RUN"))
    assert any(copy.startswith("--from=") and "/opt/venv" in copy for copy in instructions(final_stage(), "COPY"))


def test_final_stage_runs_as_a_non_root_user():
    users = instructions(final_stage(), "USER")
    assert users, "the final stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user == "10001"
    assert any("--uid 10001" in run for run in instructions(final_stage(), "RUN"))
    assert any("chown 10001" in run and "/app/var" in run for run in instructions(final_stage(), "RUN"))


def test_final_stage_environment_port_healthcheck_and_command():
    stage = final_stage()
    env = dockerfile_env(stage)
    for name, value in FIXED_BY_IMAGE.items():
        assert env.get(name) == value, name
    assert env.get("PYTHONUNBUFFERED") == "1"
    assert "5000" in instructions(stage, "EXPOSE")[0].split()
    healthcheck = instructions(stage, "HEALTHCHECK")
    assert len(healthcheck) == 1 and "CMD" in healthcheck[0] and "/healthz" in healthcheck[0]
    assert "curl" not in healthcheck[0] and "wget" not in healthcheck[0]
    exec_form = healthcheck[0][healthcheck[0].index("CMD") + 3:].strip()
    assert json.loads(exec_form)[0] == "python"
    assert instructions(stage, "STOPSIGNAL") == ["SIGTERM"]
    assert json.loads(instructions(stage, "CMD")[-1]) == ["python", "app.py"]


def test_final_stage_installs_no_compilers():
    for run in instructions(final_stage(), "RUN"):
        for tool in COMPILERS:
            assert not re.search(rf"(^|[\s;&|]){re.escape(tool.strip())}($|[\s;&|])", run), (tool, run)


# --- .dockerignore ----------------------------------------------------------------------------

@pytest.mark.parametrize("entry", [".venv", ".env", "var", ".git", "tests", "**/__pycache__"])
def test_dockerignore_keeps_local_state_out_of_the_image(entry):
    lines = [line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()]
    patterns = {line.lstrip("/") for line in lines if line and not line.startswith("#")}
    assert entry in patterns
    assert f"!{entry}" not in patterns

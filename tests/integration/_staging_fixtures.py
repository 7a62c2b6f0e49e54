"""A deployed stack of real HTTPS servers, as pytest fixtures (a plugin of
``test_staging_check``).

A throwaway CA (trustme) signs the servers' certificates; the check trusts it through
``SSL_CERT_FILE`` only. The servers (``_tls_servers.py``, one process) stand in for auth and
backend, plus one server per fault. The project mirrors the repository's manifest: PostgreSQL,
Redis, auth and backend, with ``envs/staging.env`` deployed.
"""

from __future__ import annotations

import datetime
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from integration._staging_support import TOKEN, closed_port
from integration.test_cli import TASKS_PY
from realstack.binaries import find_redis
from realstack.waiting import wait_until

HERE = Path(__file__).resolve().parent
MANIFEST = """\
[tool.realstack]
default_env = "test"

[tool.realstack.services.postgres]
kind = "postgres"
port = 5434
user = "app"
database = "app"

[tool.realstack.services.redis]
kind = "redis"
port = 6381

[tool.realstack.services.auth]
kind = "process"
port = 8082
command = ["{python}", "-m", "uvicorn", "auth_service:app", "--port", "{port}"]
depends_on = ["postgres", "redis"]
probe = { kind = "http", path = "/health", status = 200 }
exports = { AUTH_SERVICE_URL = "http://{host}:{port}" }

[tool.realstack.services.backend]
kind = "process"
port = 8001
command = ["{python}", "-m", "uvicorn", "backend_service:app", "--port", "{port}"]
depends_on = ["postgres", "redis", "auth"]
probe = { kind = "http", path = "/health", status = 200 }
exports = { BACKEND_SERVICE_URL = "http://{host}:{port}", WEBSOCKET_URL = "ws://{host}:{port}/ws" }
"""
STAGING_ENV = """\
REALSTACK_DEPLOYED=true
BACKEND_SERVICE_URL=https://backend.staging.example.invalid
WEBSOCKET_URL=wss://backend.staging.example.invalid/ws
AUTH_SERVICE_URL=https://auth.staging.example.invalid
STAGING_EXPECT_ENV=staging
STAGING_EXPECT_BUILD=b42
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Path]]]:
    """A throwaway CA's bundle and the servers' certificates (key + chain in one file)."""
    where = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    tomorrow = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    leaves = {
        "good": ca.issue_cert("127.0.0.1", "localhost"),
        "expiring": ca.issue_cert("127.0.0.1", "localhost", not_after=tomorrow),
        "wronghost": ca.issue_cert("wrong.example.org"),
    }
    certs = {}
    for name, leaf in leaves.items():
        certs[name] = where / f"{name}.pem"
        leaf.private_key_and_cert_chain_pem.write_to_path(str(certs[name]))
    bundle = where / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    yield bundle, certs


@pytest.fixture(scope="module")
def tls_ports(
    pki: tuple[Path, dict[str, Path]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, int]]:
    """Every server up and serving (the ready file says so), by name → port."""
    _, certs = pki
    where = tmp_path_factory.mktemp("servers")
    good = str(certs["good"])
    servers = [
        {"name": "auth", "cert": good},
        {"name": "backend", "cert": good},
        {"name": "unhealthy", "cert": good, "health_status": 503},
        {"name": "slow", "cert": good, "health_delay": 2.0},
        {"name": "oldbuild", "cert": good, "build": "b41"},
        {"name": "wsrefuse", "cert": good, "ws_refuse": True},
        {"name": "expiring", "cert": str(certs["expiring"])},
        {"name": "wronghost", "cert": str(certs["wronghost"])},
        {"name": "silent", "silent": True},
        {"name": "mute", "cert": good, "mute": True},
        {"name": "slam", "cert": good, "slam": True},
    ]
    ready = where / "ready.json"
    config = where / "config.json"
    config.write_text(json.dumps({"servers": servers, "ready": str(ready), "token": TOKEN}))
    with (where / "servers.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "_tls_servers.py"), str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def up() -> str | None:
            if proc.poll() is not None:
                log_text = (where / "servers.log").read_text()
                raise RuntimeError(f"servers exited {proc.returncode}:\n{log_text}")
            return None if ready.exists() else "not serving yet"

        wait_until(up, timeout=30)
        yield {k: int(v) for k, v in json.loads(ready.read_text()).items()}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deployed")
    (root / "pyproject.toml").write_text(MANIFEST)
    (root / "tasks.py").write_text(TASKS_PY)
    (root / "envs").mkdir()
    (root / "envs" / "staging.env").write_text(STAGING_ENV)
    (root / "envs" / "test.env").write_text("")
    return root


@pytest.fixture
def ca_bundle(pki: tuple[Path, dict[str, Path]]) -> Path:
    """The CA file the check is told to trust (SSL_CERT_FILE)."""
    return pki[0]


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real Redis (or Valkey) on a free port, without persistence."""
    port = closed_port()
    where = tmp_path_factory.mktemp("redis")
    argv = [str(find_redis().path), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    proc = subprocess.Popen([*argv, "--dir", str(where)], stdout=subprocess.DEVNULL)
    try:

        def answers() -> str | None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError as exc:
                return str(exc)
            return None

        wait_until(answers, timeout=15)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)

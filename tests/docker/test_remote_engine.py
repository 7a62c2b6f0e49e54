"""The docker provider on an engine that is not this machine's socket (issue #14): a second
dockerd reachable only over TCP (`scripts/start_remote_engine.sh`, its own data root, no unix
socket), so nothing found through /var/run/docker.sock or a host pid can pass for it.

The session fixture starts that engine and copies the offline images into it (both cached);
if it cannot, the tests fail with the fix: they never skip.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from dotenv import dotenv_values

from conftest import REPO, Project, docker_client, free_port, of_compose_project, throwaway_project
from integration.test_cli import TASKS_PY, clean_environ, invoke_ok
from realstack import envfile
from realstack.providers import engine_address as address
from realstack.providers.docker import engine_available

pytestmark = pytest.mark.docker
PORT = 23750
REMOTE = f"tcp://127.0.0.1:{PORT}"

MANIFEST = """
[tool.realstack.services.postgres]
kind = "postgres"
port = "${POSTGRES_PORT}"
user = "${POSTGRES_USER}"
password = "${POSTGRES_PASSWORD}"
database = "${POSTGRES_DB}"
startup_timeout = 90
[tool.realstack.services.redis]
kind = "redis"
port = "${REDIS_PORT}"
database = "1"
startup_timeout = 60
"""


HOSTS = """
provider = "docker"
[tool.realstack.services.postgres]
kind = "postgres"
port = "${POSTGRES_PORT}"
user = "u"
password = "p"
database = "d"
[tool.realstack.services.redis]
kind = "redis"
provider = "native"
port = 6999
[tool.realstack.services.api]
kind = "process"
port = 9
command = ["true"]
env = { DB = "{postgres.url}" }
"""


def _script(name: str, *args: str) -> None:
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / name), *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**clean_environ(), "REALSTACK_REMOTE_DOCKER_PORT": str(PORT)},
    )
    if done.returncode != 0:
        pytest.fail(
            f"scripts/{name} failed (exit {done.returncode}); the remote-engine tests need it: "
            f"run `bash scripts/{name}` (as root) and see its message:\n{done.stderr[-2000:]}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def remote_engine() -> str:
    """The TCP-only engine, running, with the offline images in it."""
    _script("start_remote_engine.sh")
    _script("load_remote_images.sh", "postgres", "redis", "clickhouse")  # conftest checks all
    return REMOTE


@pytest.fixture
def remote(remote_engine: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """A docker project whose containers run on the remote engine (its teardown, which
    removes leftovers by label, talks to the same engine)."""
    monkeypatch.setenv("DOCKER_HOST", remote_engine)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    with throwaway_project("realstack-remote-", "docker") as proj:
        proj.write(
            MANIFEST,
            {
                "POSTGRES_PORT": str(free_port()),
                "REDIS_PORT": str(free_port()),
                "POSTGRES_USER": "test_user",
                "POSTGRES_PASSWORD": "test_pass",
                "POSTGRES_DB": "app_test",
            },
        )
        (proj.root / "tasks.py").write_text(TASKS_PY)
        yield proj


def _containers(host: str | None, project: str) -> dict[str, str]:
    """Container id → compose service of ``project`` on the engine at ``host`` (None: the
    default socket)."""
    with docker_client(host or f"unix://{address.DEFAULT_SOCKET}") as client:
        found = client.containers.list(all=True, filters=of_compose_project(project))
        return {c.id: c.labels["com.docker.compose.service"] for c in found}


def _invoke(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return invoke_ok(project, {**clean_environ(), "DOCKER_HOST": REMOTE}, *args)


def test_a_restarted_remote_engine_leaves_the_default_engines_bridge_alone(
    remote_engine: str,
) -> None:
    """A second dockerd on this machine is not ours to let touch the first one's network:
    started again on its own data root, it must leave docker0 where it was (dockerd 20.10
    deleted it, from the network store of the engine's previous run)."""
    bridge = Path("/sys/class/net/docker0")
    assert bridge.exists(), "the default engine's docker0 is already gone before this test"
    _script("stop_remote_engine.sh")
    _script("start_remote_engine.sh")
    assert bridge.exists(), "restarting the remote engine deleted the default engine's docker0"


def test_start_contract_stop_on_the_tcp_engine(remote: Project) -> None:
    """`services.start --wait --provider docker` with DOCKER_HOST at the TCP engine: the
    containers run there (found by the ids the records hold), the contract answers, and
    `services.stop` removes exactly them; the default engine never sees the project."""
    _invoke(remote, "services.start", "--wait", "--provider", "docker")
    project = remote.compose_project()
    on_remote = _containers(REMOTE, project)
    assert sorted(on_remote.values()) == ["postgres", "redis"]
    recorded = {
        json.loads(p.read_text())["container_id"] for p in (remote.state / "services").glob("*")
    }
    assert recorded == set(on_remote)
    assert _containers(None, project) == {}

    contract = {k: v or "" for k, v in dotenv_values(remote.state / "runtime.env").items()}
    with psycopg.connect(contract["DATABASE_URL"], connect_timeout=10) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    assert redis.Redis.from_url(contract["REDIS_URL"], socket_timeout=10).ping()
    status = _invoke(remote, "services.status").stdout
    assert status.count("ours") == 2, status

    _invoke(remote, "services.stop")
    assert _containers(REMOTE, project) == {}


def test_the_contract_names_the_engines_host_not_localhost(
    remote_engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container's published port is on the engine's machine: its address in the contract
    and in other services' placeholders is DOCKER_HOST's host (a native one stays local)."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://192.0.2.7:2376")
    with throwaway_project("realstack-remote-host-") as proj:
        proj.write(HOSTS, {"POSTGRES_PORT": "5999"})
        stack = proj.stack()
        assert stack.service("postgres").host == "192.0.2.7"
        assert stack.service("redis").host == "127.0.0.1"  # native: this machine
        assert stack.service("api").env["DB"] == "postgresql://u:p@192.0.2.7:5999/d"
        assert envfile.contract(stack)["DATABASE_URL"] == "postgresql://u:p@192.0.2.7:5999/d"


def test_the_docker_context_is_followed_without_docker_host(
    remote_engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No DOCKER_HOST, a docker context naming the TCP engine: realstack talks to that engine
    (the SDK alone would read the default socket)."""
    config = tmp_path / "docker-config"
    meta = config / "contexts" / "meta" / hashlib.sha256(b"remote").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": "remote", "Endpoints": {"docker": {"Host": remote_engine}}})
    )
    (config / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    assert address.docker_host() == remote_engine
    assert address.engine_host() == "127.0.0.1"
    assert engine_available(timeout=10)
    monkeypatch.setenv("DOCKER_CONTEXT", "no-such-context")
    assert address.docker_host() == f"unix://{address.DEFAULT_SOCKET}"

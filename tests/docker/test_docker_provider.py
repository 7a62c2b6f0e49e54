"""The docker provider against a real engine: containers from the compose file, owned by label.

Needs a running Docker engine (`bash scripts/start_docker_engine.sh`) and the offline images
(`bash scripts/build_offline_images.sh`): without them these tests fail, they never skip.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
import redis

from conftest import REPO, Project, docker_client, docker_project, of_compose_project
from integration._support import free_ports_for
from realstack import envfile
from realstack.errors import ConfigError, ServiceExited
from realstack.providers import docker as docker_provider
from realstack.status import status
from realstack.waiting import wait_until

pytestmark = pytest.mark.docker

COMPOSE = """
services:
  postgres:
    image: ${POSTGRES_IMAGE}
    ports: ["127.0.0.1:${POSTGRES_PORT}:5432"]
    environment:
      POSTGRES_USER: ${POSTGRES_USER}
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
      POSTGRES_DB: ${POSTGRES_DB}
    volumes: ["pgdata:/var/lib/postgresql/data"]
  redis:
    image: ${REDIS_IMAGE}
    ports: ["127.0.0.1:${REDIS_PORT}:6379"]
    volumes: ["redisdata:/data"]
  broken:
    image: ${REDIS_IMAGE}
    entrypoint: ["sh", "-c", "echo realstack-boom-marker; exit 3"]
    ports: ["127.0.0.1:${BROKEN_PORT}:6379"]
volumes:
  pgdata: {}
  redisdata: {}
"""

MANIFEST = """
provider = "${REALSTACK_PROVIDER:-native}"
[tool.realstack.services.postgres]
kind = "postgres"
port = "${POSTGRES_PORT}"
user = "${POSTGRES_USER}"
password = "${POSTGRES_PASSWORD}"
database = "${POSTGRES_DB}"
startup_timeout = 60
# first, so the working redis below owns REDIS_URL in the env contract
[tool.realstack.services.broken]
kind = "redis"
port = "${BROKEN_PORT}"
startup_timeout = 60
[tool.realstack.services.redis]
kind = "redis"
port = "${REDIS_PORT}"
database = "1"
startup_timeout = 60
"""


@pytest.fixture
def dproject(
    project: Project, images: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    """A throwaway project whose infra runs in docker; its containers and volumes go after."""
    env = {
        **images,
        "REALSTACK_PROVIDER": "docker",
        **free_ports_for("POSTGRES_PORT", "REDIS_PORT", "BROKEN_PORT"),
        "POSTGRES_USER": "test_user",
        "POSTGRES_PASSWORD": "test_pass",
        "POSTGRES_DB": "app_test",
    }
    with docker_project(project, monkeypatch, MANIFEST, env, COMPOSE) as proj:
        yield proj


def _container_ids(project: Project) -> dict[str, str]:
    """Service → the container id its record names (records carry no host pid)."""
    found = {}
    for path in (project.state / "services").glob("*.json"):
        data = json.loads(path.read_text())
        assert "pid" not in data, data
        found[data["service"]] = data["container_id"]
    return found


def test_start_ready_status_contract_and_reuse(dproject: Project) -> None:
    """Started containers answer their protocol (ready does not wait for the container's own
    health check), are ours in status, serve the contract, and are reused."""
    report = dproject.start(only=["postgres", "redis"])
    report.raise_for_errors()
    assert {r.name: r.action for r in report.results} == {"postgres": "started", "redis": "started"}
    stack = dproject.stack()
    with docker_client() as client:
        for name, container_id in _container_ids(dproject).items():
            container = client.containers.get(container_id)
            assert container.labels["com.docker.compose.service"] == name
            assert container.status == "running"
    rows = {r.name: r for r in status(stack)}
    for name in ("postgres", "redis"):
        assert (rows[name].provider, rows[name].state, rows[name].health) == (
            "docker",
            "ours",
            "healthy",
        )
    assert rows["broken"].state == "down"

    contract = envfile.contract(stack)
    with psycopg.connect(contract["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            "test_user",
            "app_test",
        )
    with redis.Redis.from_url(contract["REDIS_URL"]) as client:
        assert client.ping()

    ids = _container_ids(dproject)
    again = dproject.start(only=["postgres", "redis"])
    assert {r.action for r in again.results} == {"reused"}
    assert _container_ids(dproject) == ids


def test_stop_spares_other_projects_keeps_volumes_and_purge_drops_them(
    dproject: Project, images: dict[str, str]
) -> None:
    with docker_client() as client:
        other = client.containers.run(
            images["REDIS_IMAGE"],
            detach=True,
            labels={
                "com.docker.compose.project": "other-realstack-test",
                "com.docker.compose.service": "redis",
            },
        )
        try:
            dproject.start(only=["postgres", "redis"]).raise_for_errors()
            stack = dproject.stack()
            contract = envfile.contract(stack)
            with psycopg.connect(contract["DATABASE_URL"], autocommit=True) as conn:
                conn.execute("CREATE TABLE kept (v text)")
                conn.execute("INSERT INTO kept VALUES ('precious')")
            with redis.Redis.from_url(contract["REDIS_URL"]) as r:
                r.set("kept", "precious")

            stopped = dproject.stop()
            stopped.raise_for_errors()
            assert {r.action for r in stopped.results} >= {"stopped"}
            assert dproject.containers() == []
            other.reload()
            assert other.status == "running"  # another project's container: never touched
            assert status(stack)[0].state == "down"

            dproject.start(only=["postgres", "redis"]).raise_for_errors()
            with psycopg.connect(contract["DATABASE_URL"]) as conn:
                assert conn.execute("SELECT v FROM kept").fetchone() == ("precious",)
            with redis.Redis.from_url(contract["REDIS_URL"]) as r:
                assert r.get("kept") == b"precious"

            dproject.stop(purge=True).raise_for_errors()
            project_volumes = client.volumes.list(
                filters=of_compose_project(docker_provider.project_name(stack))
            )
            assert project_volumes == []
            dproject.start(only=["postgres", "redis"]).raise_for_errors()
            with psycopg.connect(contract["DATABASE_URL"]) as conn:
                exists = conn.execute("SELECT to_regclass('public.kept')").fetchone()
                assert exists == (None,)
            with redis.Redis.from_url(contract["REDIS_URL"]) as r:
                assert r.get("kept") is None
            other.reload()
            assert other.status == "running"
        finally:
            other.remove(force=True, v=True)


def test_container_that_exits_at_once_reports_its_log_tail(dproject: Project) -> None:
    report = dproject.start(only=["broken"])
    assert not report.ok
    error = report.errors[0]
    assert isinstance(error, ServiceExited)
    assert error.returncode == 3
    assert any("realstack-boom-marker" in line for line in error.log_tail)
    # rolled back: the failed container is removed, not left behind
    wait_until(lambda: None if dproject.containers() == [] else "left", 10)


def test_auto_picks_docker_when_the_engine_answers(dproject: Project) -> None:
    dproject.start(only=["redis"], provider="auto").raise_for_errors()
    row = next(r for r in status(dproject.stack()) if r.name == "redis")
    assert (row.provider, row.state) == ("docker", "ours")


def test_a_container_start_marks_the_instance_before_the_container_exists(
    dproject: Project,
) -> None:
    """The mark that makes stop and status search the engine without a record (a native
    instance never asks an engine) is there once a container of the instance is."""
    assert not (dproject.state / "engine-used").exists()
    dproject.start(only=["redis"]).raise_for_errors()
    assert (dproject.state / "engine-used").is_file()


def test_unrecorded_container_is_an_orphan_and_stop_removes_it(dproject: Project) -> None:
    dproject.start(only=["redis"]).raise_for_errors()
    (dproject.state / "services" / "redis.json").unlink()
    stack = dproject.stack()
    row = next(r for r in status(stack) if r.name == "redis")
    assert (row.provider, row.state) == ("docker", "orphan")
    dproject.stop().raise_for_errors()
    assert dproject.containers() == []


def test_bad_provider_is_a_config_error(dproject: Project) -> None:
    with pytest.raises(ConfigError, match="provider"):
        dproject.start(provider="podman")


def test_the_repositorys_compose_file_runs_the_manifests_services(dproject: Project) -> None:
    """The real docker-compose.test.yml resolves the same ports and credentials as the manifest."""
    (dproject.root / "docker-compose.test.yml").write_text(
        (REPO / "docker-compose.test.yml").read_text()
    )
    dproject.start(only=["postgres", "redis"]).raise_for_errors()
    stack = dproject.stack()
    rows = {r.name: r for r in status(stack)}
    assert [(rows[n].provider, rows[n].state) for n in ("postgres", "redis")] == [
        ("docker", "ours"),
        ("docker", "ours"),
    ]
    contract = envfile.contract(stack)
    with psycopg.connect(contract["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with redis.Redis.from_url(contract["REDIS_URL"]) as client:
        assert client.ping()


def test_stopping_every_service_by_name_removes_the_network_and_keeps_the_volumes(
    dproject: Project,
) -> None:
    """What `nox -s e2e` does (`services.stop --only=<what it started>`) leaves no network."""
    dproject.start(only=["postgres", "redis"]).raise_for_errors()
    stack = dproject.stack()
    label = of_compose_project(docker_provider.project_name(stack))
    with docker_client() as client:
        dproject.stop(only=["redis"]).raise_for_errors()
        assert client.networks.list(filters=label) != []  # postgres still uses it
        dproject.stop(only=["postgres"], purge=False).raise_for_errors()
        assert client.networks.list(filters=label) == []
        assert len(client.volumes.list(filters=label)) == 2  # data stays without --purge

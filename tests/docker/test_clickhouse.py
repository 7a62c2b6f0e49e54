"""ClickHouse in the optional ``analytics`` profile, from the repository's compose file.

Needs a running Docker engine and the offline images (see ``_images``): without them these
tests fail, they never skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from conftest import REPO, Project, docker_client, docker_project, of_compose_project
from integration._support import free_ports_for
from realstack import envfile, orchestrator
from realstack.providers import docker as docker_provider
from realstack.status import running_services, status

pytestmark = pytest.mark.docker

MANIFEST = """
provider = "docker"
[tool.realstack.services.redis]
kind = "redis"
port = "${REDIS_PORT}"
startup_timeout = 60
[tool.realstack.services.clickhouse]
kind = "clickhouse"
profiles = ["analytics"]
port = "${CLICKHOUSE_HTTP_PORT}"
user = "${CLICKHOUSE_USER}"
password = "${CLICKHOUSE_PASSWORD}"
database = "${CLICKHOUSE_DB}"
startup_timeout = 90
"""


@pytest.fixture
def analytics(
    project: Project, images: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    """A project with redis and an analytics-profile ClickHouse, on the repository's compose
    file and free ports; its containers and volumes go afterwards."""
    env = {
        **images,
        **free_ports_for("REDIS_PORT", "CLICKHOUSE_HTTP_PORT", "CLICKHOUSE_TCP_PORT"),
        "CLICKHOUSE_USER": "analyst",
        "CLICKHOUSE_PASSWORD": "an4lyst pass",
        "CLICKHOUSE_DB": "events_test",
    }
    monkeypatch.delenv("REALSTACK_PROFILES", raising=False)
    compose = (REPO / "docker-compose.test.yml").read_text()
    with docker_project(project, monkeypatch, MANIFEST, env, compose) as proj:
        yield proj


def query(env: dict[str, str], sql: str, password: str | None = None) -> httpx.Response:
    """``sql`` over ClickHouse's HTTP interface, with the contract's credentials."""
    return httpx.post(
        env["CLICKHOUSE_SERVICE_URL"],
        params={"database": env["CLICKHOUSE_DB"]},
        content=sql,
        auth=(env["CLICKHOUSE_USER"], env["CLICKHOUSE_PASSWORD"] if password is None else password),
        timeout=10,
    )


def volumes_of(project: Project) -> list[str]:
    label = of_compose_project(docker_provider.project_name(project.stack()))
    with docker_client() as client:
        return sorted(v.name for v in client.volumes.list(filters=label))


def test_a_plain_start_leaves_the_profile_service_out_of_the_stack_and_the_contract(
    analytics: Project,
) -> None:
    report = analytics.start()
    report.raise_for_errors()
    assert [r.name for r in report.results] == ["redis"]
    stack = analytics.stack()
    assert "CLICKHOUSE_SERVICE_URL" not in envfile.contract(stack)
    row = next(r for r in status(stack) if r.name == "clickhouse")
    assert (row.state, row.health) == ("down", "profile analytics not enabled")


def test_the_analytics_profile_starts_clickhouse_and_queries_reach_its_database(
    analytics: Project,
) -> None:
    stack = analytics.stack()
    started = orchestrator.start(stack, profiles=["analytics"])  # `--profile analytics`
    started.raise_for_errors()
    assert {r.name: r.action for r in started.results} == {
        "redis": "started",
        "clickhouse": "started",
    }
    env = envfile.contract(stack, running_services(stack))
    assert env["CLICKHOUSE_SERVICE_URL"] == f"http://localhost:{stack.service('clickhouse').port}"

    table = f"events_{uuid.uuid4().hex[:8]}"
    assert query(env, f"CREATE TABLE {table} (n UInt32) ENGINE = MergeTree ORDER BY n").is_success
    assert query(env, f"INSERT INTO {table} VALUES (1), (2), (3)").is_success
    total = query(env, f"SELECT sum(n), currentDatabase() FROM {table}")
    assert total.text.split() == ["6", "events_test"]
    assert query(env, "SELECT 1", password="wrong").status_code != 200

    row = next(r for r in status(analytics.stack()) if r.name == "clickhouse")
    assert (row.provider, row.state, row.health) == ("docker", "ours", "healthy")
    # the runtime file (what other processes read) has it too, though no profile is set there
    runtime = (analytics.state / "runtime.env").read_text()
    assert "CLICKHOUSE_SERVICE_URL=" in runtime


def test_stop_only_with_purge_drops_the_volume_of_an_already_removed_container(
    analytics: Project,
) -> None:
    analytics.start(only=["clickhouse"]).raise_for_errors()
    name = docker_provider.project_name(analytics.stack())
    assert volumes_of(analytics) == [f"{name}_clickhouse-data"]

    analytics.stop(only=["clickhouse"]).raise_for_errors()
    assert analytics.containers() == []
    assert volumes_of(analytics) == [f"{name}_clickhouse-data"]  # stop keeps data

    analytics.stop(only=["clickhouse"], purge=True).raise_for_errors()
    assert volumes_of(analytics) == []

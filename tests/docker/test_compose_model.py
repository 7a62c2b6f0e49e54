"""The compose file stays the source of what runs, though containers start through the engine.

Needs a running Docker engine and the offline images: without them these tests fail, they
never skip.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from conftest import Project, docker_client, docker_project, free_port
from realstack import envfile
from realstack.providers import docker as docker_provider

pytestmark = pytest.mark.docker

COMPOSE = """
services:
  redis:
    image: ${REDIS_IMAGE}
    ports: ["127.0.0.1:${REDIS_PORT}:6379"]
    environment:
      GREETING: ${GREETING}
      LITERAL: "pa$$word"
    volumes: ["redisdata:/data"]
    stop_grace_period: 7s
volumes:
  redisdata: {}
"""

MANIFEST = """
provider = "docker"
[tool.realstack.services.redis]
kind = "redis"
port = "${REDIS_PORT}"
startup_timeout = 60
"""


@pytest.fixture
def rproject(
    project: Project, images: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    """Redis from a compose file of the test's own; its containers and volumes go after."""
    env = {"REDIS_IMAGE": images["REDIS_IMAGE"], "REDIS_PORT": str(free_port()), "GREETING": "hi"}
    with docker_project(project, monkeypatch, MANIFEST, env, COMPOSE) as proj:
        yield proj


def _inspect(project: Project) -> dict[str, Any]:
    record = json.loads((project.state / "services" / "redis.json").read_text())
    with docker_client(timeout=10) as client:
        return dict(client.containers.get(record["container_id"]).attrs)


def _env(attrs: dict[str, Any]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in attrs["Config"]["Env"])


def _compose(project: Project, *args: str) -> str:
    stack = project.stack()
    argv = [
        "docker",
        "compose",
        "-p",
        docker_provider.project_name(stack),
        "-f",
        str(stack.compose_path),
        *args,
    ]
    env = {**stack.variables, "PATH": "/usr/local/bin:/usr/bin:/bin"}
    return subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout


def test_the_container_runs_what_the_compose_file_says(rproject: Project) -> None:
    rproject.start().raise_for_errors()
    attrs = _inspect(rproject)
    env = _env(attrs)
    assert (env["GREETING"], env["LITERAL"]) == ("hi", "pa$word")  # `$$` is a literal `$`
    assert attrs["Config"]["StopTimeout"] == 7
    mounts = {m["Destination"]: m.get("Name") for m in attrs["Mounts"]}
    project = docker_provider.project_name(rproject.stack())
    assert mounts["/data"] == f"{project}_redisdata"
    with redis.Redis.from_url(envfile.contract(rproject.stack())["REDIS_URL"]) as client:
        assert client.ping()


def test_compose_sees_the_container_as_its_own(rproject: Project) -> None:
    rproject.start().raise_for_errors()
    listed = _compose(rproject, "ps", "--format", "{{.Service}} {{.State}}")
    assert listed.split() == ["redis", "running"]
    rproject.stop().raise_for_errors()
    assert _compose(rproject, "ps", "-a", "-q").strip() == ""


def test_an_edit_between_starts_is_applied(rproject: Project) -> None:
    """The kept model is keyed by the file and the variables it names: never stale."""
    rproject.start().raise_for_errors()
    rproject.stop().raise_for_errors()
    compose_file = rproject.root / "docker-compose.test.yml"
    compose_file.write_text(COMPOSE.replace("LITERAL:", "ADDED: edited\n      LITERAL:"))
    env_file = rproject.root / "envs" / "test.env"
    env_file.write_text(env_file.read_text().replace("GREETING=hi", "GREETING=hello"))
    rproject.start().raise_for_errors()
    env = _env(_inspect(rproject))
    assert (env["ADDED"], env["GREETING"]) == ("edited", "hello")


def test_a_service_using_keys_not_translated_is_started_by_compose(rproject: Project) -> None:
    """``tmpfs`` is not translated: compose starts the service, with the same ownership."""
    compose_file = rproject.root / "docker-compose.test.yml"
    compose_file.write_text(
        COMPOSE.replace("    stop_grace_period", "    tmpfs: [/scratch]\n    stop_grace_period")
    )
    rproject.start().raise_for_errors()
    attrs = _inspect(rproject)
    assert "/scratch" in attrs["HostConfig"]["Tmpfs"]
    assert _env(attrs)["LITERAL"] == "pa$word"
    rproject.stop().raise_for_errors()
    assert rproject.containers() == []


def test_a_missing_external_volume_is_named_and_nothing_is_left(rproject: Project) -> None:
    compose_file = rproject.root / "docker-compose.test.yml"
    name = f"realstack-absent-{free_port()}"
    compose_file.write_text(
        COMPOSE.replace("redisdata: {}", f"redisdata: {{external: true, name: {name}}}")
    )
    report = rproject.start()
    assert not report.ok
    message = str(report.errors[0])
    assert name in message and "external" in message, message
    assert rproject.containers() == []


def test_a_compose_port_other_than_the_manifests_is_refused_before_anything_starts(
    rproject: Project,
) -> None:
    compose_file = rproject.root / "docker-compose.test.yml"
    other = free_port()
    compose_file.write_text(COMPOSE.replace("${REDIS_PORT}:6379", f"{other}:6379"))
    report = rproject.start()
    assert not report.ok
    message = str(report.errors[0])
    assert f"publishes [{other}]" in message and "the manifest expects" in message, message
    assert rproject.containers() == []

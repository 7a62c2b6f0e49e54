"""Many checkouts of one project on one machine: the first keeps the manifest's ports, every
other gets a block of its own, leased, and keeps it across restarts; each contract points at
its own services."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from dotenv import dotenv_values

from conftest import Project, free_port, owned_by, throwaway_project
from integration.test_cli import TASKS_PY, clean_environ, invoke_ok
from realstack.probes import http_check, redis_check
from realstack.waiting import wait_until

pytestmark = pytest.mark.integration

SERVERS = Path(__file__).with_name("_servers.py")
MANIFEST = """
[tool.realstack]
provider = "native"
[tool.realstack.services.cache]
kind = "redis"
port = "${CACHE_PORT}"
[tool.realstack.services.web]
kind = "process"
port = "${WEB_PORT:-%d}"
command = ["{python}", "%s", "health", "{port}"]
probe = { kind = "http", path = "/health" }
exports = { WEB_URL = "http://{host}:{port}" }
"""


@pytest.fixture
def checkouts(tmp_path: Path) -> Iterator[tuple[list[Project], dict[str, str]]]:
    """Three copies of one project (same manifest, same env file: the same preferred ports)
    and a registry of their own."""
    env = {**clean_environ(), "XDG_STATE_HOME": str(tmp_path / "state-home")}
    text = MANIFEST % (free_port(), SERVERS)
    cache = free_port()
    with (
        throwaway_project("realstack-lease-a-") as a,
        throwaway_project("realstack-lease-b-") as b,
        throwaway_project("realstack-lease-c-") as c,
    ):
        for proj in (a, b, c):
            (proj.root / "pyproject.toml").write_text(text)
            (proj.root / "envs").mkdir()
            (proj.root / "envs" / "test.env").write_text(f"CACHE_PORT={cache}\n")
            (proj.root / "tasks.py").write_text(TASKS_PY)
        yield [a, b, c], env


def cli(project: Project, env: dict[str, str], *args: str) -> str:
    return invoke_ok(project, env, *args).stdout


def contract(project: Project) -> dict[str, str]:
    values = dotenv_values(project.root / ".realstack" / "test" / "runtime.env")
    return {k: v for k, v in values.items() if v is not None}


def test_each_checkout_runs_on_ports_of_its_own_and_keeps_them(
    checkouts: tuple[list[Project], dict[str, str]],
) -> None:
    projects, env = checkouts
    preferred = dotenv_values(projects[0].root / "envs" / "test.env")["CACHE_PORT"]

    said = [cli(proj, env, "services.start", "--wait") for proj in projects]

    urls = [contract(p) for p in projects]
    assert urls[0]["REDIS_URL"].endswith(f":{preferred}/0")  # the first keeps the manifest's
    assert "leased by" not in said[0]
    leased = urls[1]["REDIS_URL"].rsplit(":", 1)[1].split("/")[0]
    holder = f"leased by {projects[0].root} (env test, running)"
    assert f"port {preferred} is {holder}; leased {leased} for this one" in said[1], said[1]
    assert len({u["REDIS_URL"] for u in urls}) == 3  # no port shared
    assert len({u["WEB_URL"] for u in urls}) == 3
    for u in urls:  # each contract points at a live service of its own
        port = int(u["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        assert redis_check("127.0.0.1", port, 1.0)() is None
        assert http_check(u["WEB_URL"] + "/health", 200, 1.0)() is None
    shown = cli(projects[1], env, "env.show")
    assert urls[1]["REDIS_URL"] in shown  # env.show names the leased port too

    cli(projects[1], env, "services.stop")
    again = cli(projects[1], env, "services.start", "--wait")
    assert contract(projects[1]) == urls[1]  # the same ports on the next start
    assert "leased by" not in again  # nothing moved: nothing to say

    cli(projects[0], env, "services.stop")
    assert {p.pid for p in owned_by(projects[2].root)}  # one stop leaves the others running
    for proj in projects[1:]:
        cli(proj, env, "services.stop")


def test_a_port_chosen_on_purpose_wins_over_the_lease(
    checkouts: tuple[list[Project], dict[str, str]],
) -> None:
    projects, env = checkouts
    cli(projects[0], env, "services.start", "--wait")
    cli(projects[1], env, "services.start", "--wait")
    chosen = free_port()

    cli(projects[1], {**env, "WEB_PORT": str(chosen)}, "services.start", "--wait")

    assert contract(projects[1])["WEB_URL"] == f"http://localhost:{chosen}"
    for proj in projects[:2]:
        cli(proj, {**env, "WEB_PORT": str(chosen)}, "services.stop")
    shutil.rmtree(projects[2].root / ".realstack", ignore_errors=True)


def test_checkouts_started_at_the_same_moment_never_share_a_port(
    checkouts: tuple[list[Project], dict[str, str]],
) -> None:
    projects, env = checkouts

    with ThreadPoolExecutor(len(projects)) as pool:
        list(pool.map(lambda p: cli(p, env, "services.start", "--wait"), projects))

    urls = [contract(p) for p in projects]
    assert len({u["REDIS_URL"] for u in urls}) == len({u["WEB_URL"] for u in urls}) == 3
    for proj in projects:
        cli(proj, env, "services.stop")


AUTO_MANIFEST = """
[tool.realstack]
provider = "native"
[tool.realstack.services.cache]
kind = "redis"
port = "auto"
[tool.realstack.services.web]
kind = "process"
port = "auto"
command = ["{python}", "%s", "health", "{port}"]
probe = { kind = "http", path = "/health" }
exports = { WEB_URL = "http://{host}:{port}" }
"""


def test_auto_ports_start_healthy_apart_and_stay_put_across_restarts(
    checkouts: tuple[list[Project], dict[str, str]],
) -> None:
    """``port = "auto"``: no port in the manifest or an env file, yet two checkouts run side
    by side on ports of their own, and each keeps its URLs across a restart."""
    projects, env = checkouts
    a, b = projects[:2]
    for proj in (a, b):
        (proj.root / "pyproject.toml").write_text(AUTO_MANIFEST % SERVERS)
        cli(proj, env, "services.start", "--wait")
    urls = [contract(p) for p in (a, b)]
    for u in urls:
        assert http_check(u["WEB_URL"] + "/health", 200, 1.0)() is None
        port = int(u["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        assert redis_check("127.0.0.1", port, 1.0)() is None
    assert urls[0]["WEB_URL"] != urls[1]["WEB_URL"]
    assert urls[0]["REDIS_URL"] != urls[1]["REDIS_URL"]

    cli(b, env, "services.stop")
    cli(b, env, "services.start", "--wait")

    assert contract(b) == urls[1]
    for proj in (a, b):
        cli(proj, env, "services.stop")


def test_a_port_held_by_the_services_own_orphan_is_kept_once_the_orphan_is_cleared(
    checkouts: tuple[list[Project], dict[str, str]],
) -> None:
    """uvicorn --workers, its master killed: the workers keep the port. The next start stops
    them (orphans of this instance) and starts the app on the same port, so the contract's
    URL does not move (before: a new port, and every shell's exported URL went stale)."""
    projects, env = checkouts
    a = projects[0]
    (a.root / "pyproject.toml").write_text(AUTO_MANIFEST.replace('"health"', '"workers"') % SERVERS)
    cli(a, env, "services.start", "--wait")
    before = contract(a)
    record = json.loads((a.root / ".realstack" / "test" / "services" / "web.json").read_text())
    os.kill(record["pid"], signal.SIGKILL)
    wait_until(lambda: None if not psutil.pid_exists(record["pid"]) else "alive", 10)
    assert http_check(before["WEB_URL"] + "/health", 200, 1.0)() is None  # the worker answers

    again = cli(a, env, "services.start", "--wait")

    assert re.search(r"\bweb\s+orphans\b", again), again
    assert contract(a) == before
    assert http_check(before["WEB_URL"] + "/health", 200, 1.0)() is None
    cli(a, env, "services.stop")


def test_a_service_its_running_dependents_were_given_comes_back_on_the_same_port(
    checkouts: tuple[list[Project], dict[str, str]],
) -> None:
    """The first start could not lease (the registry unusable; in CI, a lease range used up
    by stale checkouts), so A runs on the manifest's ports, which B, stopped, holds in its
    lease. Started again alone (an outage's restore), cache kept its port: web, which runs and
    depends on it, was given that address. It moved to a leased port, and web kept calling
    the old one (a 503 that outlived the outage)."""
    projects, env = checkouts
    a, b = projects[0], projects[1]
    text = (a.root / "pyproject.toml").read_text() + 'depends_on = ["cache"]\n'
    (a.root / "pyproject.toml").write_text(text)
    cli(b, env, "services.start", "--wait")
    cli(b, env, "services.stop")
    unusable = a.root / "not-a-directory"
    unusable.write_text("")

    first = cli(a, {**env, "REALSTACK_HOME": str(unusable)}, "services.start", "--wait")
    assert "ports not leased" in first, first
    given = contract(a)
    cli(a, env, "services.stop", "--only", "cache")
    cli(a, env, "services.start", "--wait", "--only", "cache")

    assert contract(a) == given
    rows = {r["name"]: r for r in json.loads(cli(a, env, "services.status", "--json"))["services"]}
    assert {name: r["state"] for name, r in rows.items()} == {"cache": "ours", "web": "ours"}
    assert given["REDIS_URL"] == f"redis://localhost:{rows['cache']['port']}/0"
    assert redis_check("127.0.0.1", rows["cache"]["port"], 1.0)() is None
    cli(a, env, "services.stop")

"""Benchmark: realstack's docker provider beside ``docker compose up -d --wait``, same images.

One throwaway project under /tmp with the repository's compose file and OS-assigned ports.
Both start PostgreSQL + Redis from "containers removed, volumes kept" (the usual "stack is
down" case), interleaved round by round (which goes first alternates), so a noisy machine
slows both alike; medians. Compose is "up" when its health checks pass, realstack when its
protocol probes answer (``SELECT 1``, ``PING``): each tool's own notion of ready. Prints
figures and the target; asserts nothing. Run by ``scripts/bench.py --docker``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from realstack import orchestrator
from realstack.manifest import load_stack

DOCKER_MANIFEST = """
[tool.realstack]
provider = "docker"
[tool.realstack.services.postgres]
kind = "postgres"
port = "${POSTGRES_PORT}"
user = "${POSTGRES_USER}"
password = "${POSTGRES_PASSWORD}"
database = "${POSTGRES_DB}"
[tool.realstack.services.redis]
kind = "redis"
port = "${REDIS_PORT}"
"""

TARGET = 0.5  # realstack docker start <= TARGET x `docker compose up -d --wait`


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def docker_rounds(rounds: int, free_port: Callable[[], int]) -> dict[str, list[float]]:
    """Seconds per round: compose start/stop beside realstack start/stop."""
    repo = Path(__file__).resolve().parents[1]
    root = Path(tempfile.mkdtemp(prefix="realstack-bench-docker-"))
    (root / "envs").mkdir()
    values = {
        "POSTGRES_PORT": str(free_port()),
        "REDIS_PORT": str(free_port()),
        "POSTGRES_USER": "bench",
        "POSTGRES_PASSWORD": "bench",
        "POSTGRES_DB": "bench",
    }
    (root / "envs" / "test.env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    (root / "pyproject.toml").write_text(DOCKER_MANIFEST)
    shutil.copy(repo / "docker-compose.test.yml", root / "docker-compose.test.yml")
    stack = load_stack(root, "test")
    compose_file = str(root / "docker-compose.test.yml")
    compose = ["docker", "compose", "-p", "realstack-bench-compose", "-f", compose_file]
    env = {**os.environ, **values}

    def run(*args: str) -> None:
        subprocess.run([*compose, *args], env=env, check=True, capture_output=True)

    figures: dict[str, list[float]] = {k: [] for k in ("compose", "realstack", "compose stop")}
    figures["realstack stop"] = []
    try:
        orchestrator.start(stack).raise_for_errors()  # creates the volumes once
        orchestrator.stop(stack).raise_for_errors()
        run("up", "-d", "--wait", "postgres", "redis")
        run("rm", "-s", "-f")
        for n in range(rounds):
            tools = ["compose", "realstack"] if n % 2 == 0 else ["realstack", "compose"]
            for tool in tools:
                if tool == "compose":
                    figures["compose"].append(
                        _timed(lambda: run("up", "-d", "--wait", "postgres", "redis"))
                    )
                    figures["compose stop"].append(_timed(lambda: run("rm", "-s", "-f")))
                else:
                    start = _timed(lambda: orchestrator.start(stack).raise_for_errors())
                    figures["realstack"].append(start)
                    stop = _timed(lambda: orchestrator.stop(stack).raise_for_errors())
                    figures["realstack stop"].append(stop)
    finally:
        orchestrator.stop(stack, purge=True)
        subprocess.run([*compose, "down", "-v"], env=env, check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    return figures


def print_docker(figures: dict[str, list[float]], native_cold: float) -> None:
    med = statistics.median
    compose, ours = med(figures["compose"]), med(figures["realstack"])
    limit = TARGET * compose
    verdict = "met" if ours <= limit else "MISSED"
    print("\ndocker (containers removed, volumes kept), postgres + redis ready:")
    print(f"{'`docker compose up -d --wait`':<44}{compose:>9.3f}")
    target = f"<= {TARGET}x = {limit:.3f}  {verdict}"
    print(f"{'realstack start, docker provider':<44}{ours:>9.3f}  {target}")
    print(f"{'`docker compose rm -s -f`':<44}{med(figures['compose stop']):>9.3f}")
    print(f"{'realstack stop, docker provider':<44}{med(figures['realstack stop']):>9.3f}")
    print(f"{'realstack start, native provider (cold)':<44}{native_cold:>9.3f}")
    print(f"docker start ratio realstack/compose: {ours / compose:.2f}")

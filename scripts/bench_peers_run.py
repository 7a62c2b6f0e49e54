"""The peers benchmark's machinery: run a tool's inner pytest, read the times its tests
wrote, and print each figure (or why there is none) with realstack's ratio to the fastest peer.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_peers_suites import write_suite

from realstack.binaries import find_postgres, find_redis

REPO = Path(__file__).resolve().parents[1]
FLAGS = ("-q", "-p", "no:cacheprovider", "-p", "no:valkey", "-p", "no:benchmark")
PLUGINS = ("realstack", "pytest_postgresql", "pytest_redis", "pytest_databases")
TIMEOUT = 300.0
WARM = 3  # per fresh db: tests not counted (realstack has 2 clones ready before the first)


def blocked(*using: str) -> list[str]:
    """``-p no:…`` for the other tools' plugins, so no run loads what it does not use."""
    return [arg for p in PLUGINS if p not in using for arg in ("-p", f"no:{p}")]


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Runner:
    def __init__(self, work: Path, tests: int, container_tests: int) -> None:
        self.work = work
        self.marks = work / "marks"
        self.marks.mkdir(mode=0o777)
        self.marks.chmod(0o777)  # the non-root run writes here too
        self.tests = tests
        self.container_tests = container_tests
        # Bytecode is written as on a user's machine (a shell with PYTHONDONTWRITEBYTECODE
        # would make every run recompile, and re-rewrite the asserts of every plugin's modules)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("REALSTACK_", "PYTEST_")) and k != "PYTHONDONTWRITEBYTECODE"
        }
        self.env["TESTCONTAINERS_RYUK_DISABLED"] = "true"  # its image cannot be pulled here

    def settings(self) -> dict[str, object]:
        images = offline_images()
        return {
            "tests": self.tests,
            "container_tests": self.container_tests,
            "pg_ctl": str(find_postgres().path.parent / "pg_ctl"),
            "redis_server": str(find_redis().path),
            "postgres_image": images.get("POSTGRES_IMAGE", ""),
            "redis_image": images.get("REDIS_IMAGE", ""),
        }

    def suite(self, tool: str) -> Path:
        root = Path(tempfile.mkdtemp(prefix=f"{tool}-", dir=self.work))
        root.chmod(0o755)
        write_suite(tool, root, self.marks, self.settings())
        return root

    def run(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        try:
            done = subprocess.run(
                argv,
                cwd=cwd,
                env={**self.env, **(env or {})},
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise Unavailable(f"no result within {TIMEOUT:.0f} s") from None
        if done.returncode != 0:
            raise Unavailable(reason_from(done.stdout + done.stderr))

    def _clear(self) -> None:
        for mark in self.marks.iterdir():
            mark.unlink()

    def first_test(
        self,
        argv: list[str],
        cwd: Path,
        before: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> float:
        """Seconds from launch (of ``before``, then ``argv``) to the test's first line."""
        self._clear()
        t0 = time.time()
        if before:
            self.run(before, cwd, env)
        self.run(argv, cwd, env)
        return float((self.marks / "first").read_text()) - t0

    def per_db(self, argv: list[str], cwd: Path) -> float:
        """Milliseconds between consecutive tests' first lines, from the ``WARM``-th test on:
        what a tool made ahead before the first test is spent by then (realstack's clones)."""
        self._clear()
        self.run(argv, cwd)
        times = sorted(float(m.read_text()) for m in self.marks.iterdir())[WARM:]
        if len(times) < 2:
            raise Unavailable(f"{len(times) + WARM} test(s) ran")
        return 1000 * (times[-1] - times[0]) / (len(times) - 1)


def offline_images() -> dict[str, str]:
    from dotenv import dotenv_values  # noqa: PLC0415

    found = dotenv_values(REPO / ".realstack" / "offline-images.env")
    keys = ("POSTGRES_IMAGE", "REDIS_IMAGE")
    return {k: os.environ.get(k) or found.get(k) or "" for k in keys}


def docker(*args: str) -> str:
    try:
        done = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"docker: {exc}") from None
    if done.returncode != 0:
        raise Unavailable(reason_from(done.stderr or done.stdout))
    return done.stdout


def docker_ready(tool: str) -> None:
    docker("info", "--format", "{{.ServerVersion}}")
    for key, image in offline_images().items():
        if not image:
            raise Unavailable(f"no {key}: run `bash scripts/build_offline_images.sh`")
        docker("image", "inspect", image)
    # pytest-databases kills every container labelled pytest_databases at session start
    if tool == "pytest-databases" and docker("ps", "-aq", "--filter", "label=pytest_databases"):
        raise Unavailable("containers labelled pytest_databases exist here (not ours to kill)")


class Unavailable(Exception):
    """A tool cannot run here (or failed): the message goes into its row."""


@dataclass(frozen=True)
class Row:
    tool: str
    first: float | None  # seconds to the first test, None: not measured / not available
    per_db: float | None  # milliseconds per fresh database
    how: str  # how the figure came about, or "n/a: why not"
    mine: bool = False  # a realstack row (gets ratios)

    @property
    def peer(self) -> bool:
        return not self.mine and not self.tool.startswith("(reference)")


def reason_from(output: str) -> str:
    """The telling line of a failed run's output (an error line, else its last line)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^(E |ERROR|\w*Error|FAILED)", line)]
    text = (errors or lines or ["failed without output"])[-1]
    return text[:140]


def _cell(value: float | None, unit: str, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f} {unit}"


def _ratio(value: float | None, best: float | None) -> str:
    return "" if value is None or not best else f"{value / best:.2f}x"


def print_table(rows: list[Row], tests: int, rounds: int, took: float) -> None:
    peers = [r for r in rows if r.peer]
    best_first = min((r.first for r in peers if r.first is not None), default=None)
    best_db = min((r.per_db for r in peers if r.per_db is not None), default=None)
    print(
        f"\npeers: PostgreSQL + Redis for pytest on this machine ({os.cpu_count()} cores), "
        f"medians of {rounds} runs; per fresh database: {tests} tests a run"
    )
    head = f"{'tool':<44}{'first test':>11}{'vs peer':>9}{'per fresh db':>14}{'vs peer':>9}  how"
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio_first = _ratio(r.first, best_first) if r.mine else ""
        ratio_db = _ratio(r.per_db, best_db) if r.mine else ""
        print(
            f"{r.tool:<44}{_cell(r.first, 's', 2):>11}{ratio_first:>9}"
            f"{_cell(r.per_db, 'ms', 1):>14}{ratio_db:>9}  {r.how}"
        )
    print(
        "\nvs peer: realstack's figure / the fastest peer's (below 1: realstack is faster). "
        "first test: wall clock from launching the process(es), no server running, to the "
        "test's first line (its fixtures set up). per fresh db: (last test's first line - "
        f"the {WARM + 1}th's) / (N - {WARM + 1}): one teardown plus one setup in the steady "
        "state; realstack's tests outside its strict suites. Containers: the "
        "offline images of scripts/build_offline_images.sh; testcontainers with "
        f"TESTCONTAINERS_RYUK_DISABLED=true (Ryuk's image cannot be pulled here). ({took:.0f} s)"
    )

"""One chaos run's books: its projects, victim and Docker, the counts and failure details.

The rounds (chaos_kills, chaos_checkouts) drive the CLI; this counts what each call and each
look at the machine found, and cleans everything up however the run ended.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from chaos_docker import Docker, container_name
from chaos_evidence import instance_processes, port_bound
from chaos_forged import Victim
from chaos_io import tail
from chaos_project import TRACEBACK, Project, Run, write_project
from chaos_tally import Tally, print_table


class Chaos:
    """One chaos run: its projects, victim, counts and failure details."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.provider: str = args.provider
        self.seed: int = args.seed
        self.rng = random.Random(self.seed)  # noqa: S311 - kill timing, not secrets
        self.deadline = time.monotonic() + args.budget
        self.docker = Docker() if self.provider == "docker" else None
        self.images = self.docker.images() if self.docker is not None else {}
        self.workdir = Path(tempfile.mkdtemp(prefix="realstack-chaos-", dir="/var/tmp"))
        self.workdir.chmod(0o711)  # PostgreSQL runs as 'postgres' when we are root
        self.projects: list[Project] = []
        self.victim: Victim | None = None
        self.tallies: dict[str, Tally] = {}
        self.kills = 0  # kill rounds run
        self.details: list[str] = []
        self.debris: list[str] = []
        self.notes: list[str] = []
        self.typical = 1.0  # a warm start's seconds: the range of the random kills

    # ----------------------------------------------------------------- counting

    def tally(self, mode: str) -> Tally:
        return self.tallies.setdefault(mode, Tally())

    def fail(self, mode: str, what: str) -> None:
        self.details.append(f"[{mode}] {what}")
        print(f"    ✗ [{mode}] {what}", file=sys.stderr, flush=True)

    def count(self, mode: str, counter: str, what: str, n: int = 1) -> None:
        """Add ``n`` to ``counter`` and report ``what`` as a failure."""
        tally = self.tally(mode)
        setattr(tally, counter, getattr(tally, counter) + n)
        self.fail(mode, what)

    def check(self, mode: str, proj: Project, run: Run, what: str, counter: str) -> bool:
        """Count ``run``'s tracebacks, and a nonzero exit under ``counter``; True if it passed."""
        found = run.output.count(TRACEBACK) + proj.new_tracebacks()
        if found:
            excerpt = tail(run.output, 30)
            self.count(mode, "tracebacks", f"{what}: {found} traceback(s){excerpt}", found)
        if run.code != 0:
            self.count(mode, counter, f"{what}: exit {run.code}{tail(run.output)}")
            return False
        return True

    def call(self, mode: str, proj: Project, what: str, *args: str) -> bool:
        """Run a CLI command that must succeed (a failure counts as a failed stop)."""
        return self.check(mode, proj, proj.cli(*args), what, "failed_cmds")

    # ----------------------------------------------------------------- projects

    def new_project(
        self, name: str, ports: list[int] | None = None, state: Path | None = None
    ) -> Project:
        root = self.workdir / name
        root.mkdir()
        if state is None:
            state = self.workdir / f"state-{name}"
            state.mkdir()
        root.chmod(0o755)
        write_project(root, self.provider, ports, self.images)
        return self.adopt(Project(root, state, self.provider))

    def adopt(self, proj: Project) -> Project:
        """Count ``proj`` among the run's projects (cleaned up at the end)."""
        self.projects.append(proj)
        return proj

    def processes(self, proj: Project) -> list[tuple[Any, str]]:
        """``proj``'s processes with their marks (never the victim)."""
        return instance_processes(proj, [self.victim.pid] if self.victim else [])

    def containers(self, proj: Project) -> list[Any]:
        """``proj``'s containers (none with --provider native)."""
        return self.docker.containers(proj.compose_project) if self.docker else []

    def settle(self, mode: str, proj: Project, when: str, *, ports: bool = True) -> None:
        """Count what of ``proj`` is left (processes, bound ports, containers); remove it.

        ``ports=False`` for a project sharing its ports with the running A (the copy, B).
        """
        procs = self.processes(proj)
        chosen = proj.ports.items() if ports else ()
        bound = [f"{svc}:{port}" for svc, port in chosen if port_bound(port)]
        containers = self.containers(proj)
        tally = self.tally(mode)
        tally.orphans += len(procs)
        tally.ports += len(bound)
        tally.containers += len(containers)
        if not (procs or bound or containers):
            return
        lines = [
            f"pid {p.pid} [{why}] {' '.join(' '.join(p.cmdline()).split())[:150]}"
            for p, why in procs
        ]
        lines += [f"port {b} still accepts connections" for b in bound]
        lines += [f"container {container_name(c)} ({c.attrs.get('Status')})" for c in containers]
        self.fail(mode, f"{when}: left behind:" + "".join(f"\n      - {x}" for x in lines))
        self.clear(proj)

    def clear(self, proj: Project) -> None:
        """Kill what bears ``proj``'s marks, remove its compose project's containers."""
        procs = [p for p, _ in self.processes(proj)]
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(procs, timeout=10)
        if self.docker is not None:
            for container in self.docker.containers(proj.compose_project):
                with contextlib.suppress(self.docker.sdk.errors.NotFound):
                    container.remove(force=True)

    def note_debris(self, proj: Project) -> None:
        """Scratch files an interrupted start left (information: they cost disk, not safety)."""
        paths = proj.paths
        for where in (paths.data, paths.templates, paths.services):
            if where.is_dir():
                self.debris += [str(p) for p in sorted(where.glob(".*")) if not p.is_symlink()]

    def cleanup(self) -> None:
        """Stop and purge every project, kill what still bears their marks, remove their
        containers, volumes and networks, end the victim, delete the temp dirs."""
        for proj in reversed(self.projects):
            with contextlib.suppress(Exception):
                proj.cli("services.stop", "--purge")
            with contextlib.suppress(Exception):
                self.clear(proj)
            if self.docker is not None:
                with contextlib.suppress(Exception):
                    self.docker.remove_project(proj.compose_project)
        if self.victim is not None:
            with contextlib.suppress(Exception):
                self.victim.finish()
        if self.docker is not None:
            self.docker.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # ----------------------------------------------------------------- report

    def report(self, started: float) -> int:
        """Print the table, notes and failures; 1 if anything counted as a failure."""
        total = print_table(self.tallies)
        if self.debris:
            print(f"\nnote: {len(self.debris)} scratch file(s) left in the state dir:")
            for path in self.debris[:10]:
                print(f"  {path}")
        for note in self.notes:
            print(f"\nnote: {note}")
        if self.details:
            print(f"\n{len(self.details)} failure(s):")
            for line in self.details:
                print(f"  {line}")
        print(
            f"\nchaos: {self.kills} rounds, {total.orphans} orphans, {total.ports} ports bound, "
            f"{total.containers} containers left, {total.failed_restarts} failed restarts, "
            f"{total.failed_cmds} failed stops, {total.foreign} foreign signals, "
            f"{total.lost} ownership lost, {total.tracebacks} tracebacks "
            f"({self.provider}, seed {self.seed}, {time.monotonic() - started:.0f}s)"
        )
        return 1 if total.failed() else 0

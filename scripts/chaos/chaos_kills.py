"""The starter and where it is killed: random, after a progress line, after the spawn.

The dangerous moment is between spawning a server and writing its record: the aimed modes
land there (a "window hit" when the kill left a spawn unrecorded), and each kill is followed
by a stop, a restart and a stop that must find and leave nothing.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from chaos_evidence import composing, stdout_pids
from chaos_io import Output, tail, wait_for
from chaos_project import SERVICES, START_TIMEOUT, TRACEBACK, Project
from chaos_run import Chaos

CONTAINER_SERVICES = ("postgres", "redis")  # in containers with --provider docker
MODES = ("random", "after-line", "after-spawn")  # docker adds mid-compose (postgres, redis)
JITTER_MS = (0, 5, 20, 50, 100, 200)  # after-line: delay after the `<service> starting` line
# A progress line: "  [  0.19s] postgres     starting   native, port 5432". Threads print
# concurrently, so lines may run into each other: matched anywhere, not per line.
EVENT = re.compile(r"\[\s*\d+\.\d+s\]\s+(?P<service>\S+)\s+(?P<event>[a-z-]+)")


class Starter:
    """``services.start --wait`` with its progress read as it comes (and killable at once)."""

    def __init__(self, proj: Project, kill_on: tuple[str, str] | None = None) -> None:
        self.t0 = time.monotonic()
        self.seen: dict[tuple[str, str], float] = {}
        self.killed_at: float | None = None
        self._kill_on = kill_on
        self._lock = threading.Lock()
        self.popen = proj.popen("services.start", "--wait")
        assert self.popen.stdout is not None
        self.output = Output(self.popen.stdout, self._progress)

    def _progress(self, text: str) -> None:
        now = time.monotonic()
        for match in EVENT.finditer(text):
            self.seen.setdefault((match["service"], match["event"]), now)
        if self._kill_on is not None and self._kill_on in self.seen:
            self.kill()

    def exited(self) -> bool:
        return self.popen.poll() is not None

    def wait(self, moment: Callable[[], bool], timeout: float) -> None:
        """Poll until ``moment`` says it has come or the starter has exited."""
        wait_for(lambda: moment() or self.exited(), timeout)

    def kill(self) -> None:
        with self._lock:
            if self.killed_at is None and self.popen.poll() is None:
                self.popen.send_signal(signal.SIGKILL)
                self.killed_at = time.monotonic()

    def finish(self) -> int | None:
        """Reap it (killing it first if it still runs); its exit code."""
        self.kill()
        try:
            code = self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        self.output.close()
        return code

    def stage(self) -> str:
        """The progress seen before the kill, e.g. ``redis ready, postgres starting``."""
        cut = self.killed_at or float("inf")
        events = sorted((t, f"{s} {e}") for (s, e), t in self.seen.items() if t <= cut)
        return ", ".join(what for _, what in events[-3:]) or "no progress line yet"


def kill_modes(chaos: Chaos) -> tuple[str, ...]:
    return MODES + (("mid-compose",) if chaos.provider == "docker" else ())


def spawned(chaos: Chaos, proj: Project, svc: str) -> frozenset[str]:
    """What this start has spawned for ``svc`` so far: pids, or container ids."""
    if chaos.docker is not None and svc in CONTAINER_SERVICES:
        found = chaos.docker.containers(proj.compose_project, svc)
        return frozenset(str(c.id) for c in found)
    return stdout_pids(proj.paths.log(svc))


def recorded(proj: Project, svc: str) -> str | None:
    """The pid or container id the record of ``svc`` names, if it is readable."""
    try:
        data = json.loads(proj.paths.record(svc).read_text())
    except (OSError, ValueError):
        return None
    return str(data.get("container_id") or data.get("pid")) if isinstance(data, dict) else None


def aim(
    chaos: Chaos, starter: Starter, proj: Project, mode: str, svc: str, jitter: float
) -> tuple[str, frozenset[str]]:
    """Wait for the mode's moment (the caller kills then); describe it, with what was spawned
    by then (after-spawn only)."""
    if mode == "random":
        delay = chaos.rng.uniform(0, chaos.typical)
        due = starter.t0 + delay
        starter.wait(lambda: time.monotonic() >= due, delay + 5)
        return f"random {delay * 1000:.0f}ms", frozenset()
    key = (svc, "starting")
    starter.wait(lambda: key in starter.seen, START_TIMEOUT)
    if mode == "after-line" and key in starter.seen:
        due = starter.seen[key] + jitter
        starter.wait(lambda: time.monotonic() >= due, jitter + 5)
        return f"{mode} {svc} +{jitter * 1000:.0f}ms", frozenset()
    found: frozenset[str] = frozenset()
    if mode == "mid-compose":
        starter.wait(lambda: composing(proj, svc), 60)
    elif mode == "after-spawn":

        def landed() -> bool:
            nonlocal found
            found = spawned(chaos, proj, svc)
            return bool(found)

        starter.wait(landed, 60)
    return f"{mode} {svc}", found


def start_and_kill(chaos: Chaos, proj: Project, mode: str, svc: str, jitter: float) -> str:
    """Start, SIGKILL the starter at the mode's moment; say where it landed."""
    kill_on = (svc, "starting") if mode == "after-line" and jitter == 0 else None
    starter = Starter(proj, kill_on)
    try:
        moment, spawned_then = aim(chaos, starter, proj, mode, svc, jitter)
        starter.kill()
    finally:
        code = starter.finish()
    where = f"{moment}: " + (
        f"killed at {starter.killed_at - starter.t0:.2f}s ({starter.stage()})"
        if starter.killed_at is not None
        else f"finished before the kill (exit {code})"
    )
    if starter.killed_at is None and code != 0:
        chaos.count(mode, "failed_restarts", f"{where}{tail(starter.output.text())}")
    chaos.tally(mode).tracebacks += starter.output.text().count(TRACEBACK)
    if spawned_then and recorded(proj, svc) not in spawned_then:
        chaos.tally(mode).hits += 1
        where += " [spawned, not recorded]"
    return where


def baseline(chaos: Chaos, proj: Project) -> None:
    """A cold and a warm start + stop: they must work, and the warm one sets the range of
    the random kills."""
    mode = "baseline"
    for label in ("cold", "warm"):
        chaos.tally(mode).rounds += 1
        start = proj.start()
        if not chaos.check(mode, proj, start, f"{label} start", "failed_restarts"):
            raise SystemExit("chaos: the stack does not start at all; nothing to measure")
        chaos.typical = start.seconds
        stop = proj.cli("services.stop")
        chaos.check(mode, proj, stop, f"{label} stop", "failed_cmds")
        chaos.settle(mode, proj, f"{label} start + stop")
        chaos.tally(mode).seconds += start.seconds + stop.seconds


def kill_round(chaos: Chaos, proj: Project, index: int, total: int) -> None:
    """Kill round ``index``: modes, aimed services and jitters taken in turn; then a stop, a
    restart and a stop, each followed by a count of what is left."""
    modes = kill_modes(chaos)
    mode = modes[index % len(modes)]
    k = index // len(modes)
    aims = CONTAINER_SERVICES if mode == "mid-compose" else SERVICES
    svc = aims[k % len(aims)]
    jitter = JITTER_MS[(k // len(SERVICES)) % len(JITTER_MS)] / 1000
    tally = chaos.tally(mode)
    tally.rounds += 1
    chaos.kills += 1
    t0 = time.monotonic()
    where = start_and_kill(chaos, proj, mode, svc, jitter)
    chaos.call(mode, proj, f"{where}: stop", "services.stop")
    chaos.settle(mode, proj, f"{where}: after the stop")
    restart = proj.start()
    chaos.check(mode, proj, restart, f"{where}: the next start", "failed_restarts")
    late = [m["service"] for m in EVENT.finditer(restart.output) if m["event"] == "orphans"]
    if late:  # left by the stop, or appeared after it (a helper of the killed starter)
        found = f"{where}: the next start found orphans of {late}{tail(restart.output)}"
        chaos.count(mode, "orphans", found, len(late))
    chaos.call(mode, proj, f"{where}: stop again", "services.stop")
    chaos.settle(mode, proj, f"{where}: after the restart and stop")
    seconds = time.monotonic() - t0
    tally.seconds += seconds
    print(f"  [{index + 1:3d}/{total}] {where}  ({seconds:.1f}s)", file=sys.stderr, flush=True)

"""Rounds where another checkout acts beside the running project A.

A copy of A's checkout and state (``cp -a``), a project B with A's ports and forged records,
and (opt-in) a checkout sharing A's state dir: their stops and statuses must signal nothing
of A's, nor the victim, and A's services must stay ours.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import psutil
from chaos_docker import container_name
from chaos_evidence import ended
from chaos_forged import Plant, Victim, damage, make_forge, plants
from chaos_project import SERVICES, STOP_TIMEOUT, Project, Run
from chaos_run import Chaos


@dataclass
class Watched:
    """A's processes and containers before another checkout's stop: none may end."""

    procs: list[Any]
    containers: list[Any]


def watch(chaos: Chaos, a: Project) -> Watched:
    """A's service processes: the roots of its marked process trees. Their children come and
    go on their own (PostgreSQL forks a backend per connection and autovacuum workers), so one
    ending says nothing about another checkout's stop; a stop that reached A ends a root."""
    procs = [p for p, _ in chaos.processes(a)]
    pids = {p.pid for p in procs}
    return Watched([p for p in procs if _parent(p) not in pids], chaos.containers(a))


def _parent(proc: Any) -> int | None:
    try:
        return int(proc.ppid())
    except psutil.Error:
        return None


def count_foreign(chaos: Chaos, mode: str, a: Project, watched: Watched, by: str) -> None:
    """Count what of ``watched`` has ended (``by`` another checkout's command)."""
    dead = [p for p in watched.procs if ended(p)]
    now = {str(c.id) for c in chaos.containers(a)}
    gone = [c for c in watched.containers if str(c.id) not in now]
    if dead or gone:
        names = [f"pid {p.pid}" for p in dead] + [f"container {container_name(c)}" for c in gone]
        chaos.count(mode, "foreign", f"{by} ended A's {', '.join(names)}", len(dead) + len(gone))


def check_ours(chaos: Chaos, mode: str, a: Project, when: str) -> None:
    """A's status must call every service ours."""
    run = a.cli("services.status", "--json")
    if not chaos.check(mode, a, run, f"A's status {when}", "failed_cmds"):
        return
    rows = json.loads(run.output)["services"]
    lost = [f"{r['name']}={r['state']}" for r in rows if r["state"] != "ours"]
    if lost:
        chaos.count(mode, "lost", f"A's services not ours {when}: {', '.join(lost)}", len(lost))


def copy_round(chaos: Chaos, a: Project) -> bool:
    """Copy the running checkout and its state; a stop in the copy must touch nothing of A."""
    mode = "copied-checkout"
    tally = chaos.tally(mode)
    tally.rounds += 1
    t0 = time.monotonic()
    start = a.start()
    if not chaos.check(mode, a, start, "start A", "failed_restarts"):
        return False
    watched = watch(chaos, a)
    copy_root, copy_state = chaos.workdir / "copy", chaos.workdir / "state-copy"
    subprocess.run(["cp", "-a", str(a.root), str(copy_root)], check=True, timeout=120)
    subprocess.run(["cp", "-a", str(a.state_base), str(copy_state)], check=True, timeout=300)
    copy = chaos.adopt(Project(copy_root, copy_state, chaos.provider))
    chaos.call(mode, copy, "stop in the copy", "services.stop")
    chaos.call(mode, copy, "copy status", "services.status", "--json")
    count_foreign(chaos, mode, a, watched, "the copy's stop")
    check_ours(chaos, mode, a, "after the copy's stop")
    chaos.settle(mode, copy, "the copy (never started)", ports=False)
    tally.seconds += time.monotonic() - t0
    return True


def forged_round(chaos: Chaos, a: Project) -> None:
    """Project B (same ports as A) gets records pointing at a victim and at A, and garbled
    ones, three at a time; then, one at a time, no regular file where a record belongs.
    Each stop (and status) in B must signal nothing, print no traceback and succeed, or
    for the damage refuse with a message naming the path."""
    mode = "forged-records"
    t0 = time.monotonic()
    chaos.victim = victim = Victim()
    b = chaos.new_project("b", list(a.ports.values()))
    b.paths.ensure()
    watched = watch(chaos, a)
    forge = make_forge(a, b, victim, chaos.docker, chaos.workdir / "nowhere" / "record.json")
    table = {svc: plants(forge, svc, chaos.docker is not None) for svc in SERVICES}
    count = len(table[SERVICES[0]])
    for n in range(count):
        planted = {svc: table[svc][(n + j) % count] for j, svc in enumerate(SERVICES)}
        forged_pass(chaos, a, b, watched, planted, refusal_ok=False)
    for svc in SERVICES:
        for name, plant in damage(forge, svc):
            forged_pass(chaos, a, b, watched, {svc: (name, plant)}, refusal_ok=True)
            Plant.clear(b.paths.record(svc))
    check_ours(chaos, mode, a, "after B's stops")
    chaos.tally(mode).seconds += time.monotonic() - t0


def forged_pass(
    chaos: Chaos,
    a: Project,
    b: Project,
    watched: Watched,
    planted: dict[str, tuple[str, Plant]],
    refusal_ok: bool,
) -> None:
    """Plant, then stop and status in B; count signals to the victim and to A."""
    mode = "forged-records"
    assert chaos.victim is not None
    chaos.tally(mode).rounds += 1
    for svc in SERVICES:
        Plant.clear(b.paths.record(svc))
    for svc, (_, plant) in planted.items():
        plant.put(b.paths.record(svc))
    what = "; ".join(f"{svc}: {name}" for svc, (name, _) in planted.items())
    before = len(chaos.victim.signals())
    for args in (("services.stop",), ("services.status", "--json")):
        run = b.cli(*args, timeout=30 if refusal_ok else STOP_TIMEOUT)
        named = [str(b.paths.record(svc)) for svc in planted]
        refused = run.code == 1 and "state directory:" in run.output
        if refusal_ok and refused and any(path in run.output for path in named):
            chaos.tally(mode).refusals += 1
            run = Run(0, run.output, run.seconds)  # a refusal naming the damage
        chaos.check(mode, b, run, f"{' '.join(args)} in B ({what})", "failed_cmds")
    noted = chaos.victim.signals()[before:]
    if noted:
        got = f"the victim got {noted} from B's stop with {what}"
        chaos.count(mode, "foreign", got, len(noted))
    count_foreign(chaos, mode, a, watched, f"B's stop with {what}")
    watched.procs = [p for p in watched.procs if not ended(p)]
    chaos.settle(mode, b, f"B after the stop with {what}", ports=False)


def shared_round(chaos: Chaos, a: Project) -> None:
    """Opt-in: another checkout with A's ports and A's REALSTACK_STATE_DIR stops; A's
    services must keep running (the copied-checkout round gives the copy its own)."""
    mode = "shared-state"
    chaos.tally(mode).rounds += 1
    t0 = time.monotonic()
    watched = watch(chaos, a)
    other = chaos.new_project("shared", list(a.ports.values()), a.state_base)
    chaos.call(mode, other, "status", "services.status", "--json")
    chaos.call(mode, other, "stop", "services.stop")
    count_foreign(chaos, mode, a, watched, "the other checkout's stop")
    check_ours(chaos, mode, a, "after the other checkout's stop")
    chaos.tally(mode).seconds += time.monotonic() - t0


def finish_a(chaos: Chaos, a: Project) -> None:
    """Stop A; nothing of it may be left."""
    mode = "copied-checkout"
    chaos.call(mode, a, "stop A", "services.stop")
    chaos.settle(mode, a, "A after its stop")

"""Many checkouts of this repository on one machine, all at the same moment (issue #13's proof).

Clones the repository N times (and adds two ``git worktree``s of the first clone) into a temp
dir, with a registry of its own there (``REALSTACK_HOME``: it never sees nor touches other
stacks of the machine), then, with real processes and no configuration change:

1. ``invoke services.start --wait`` in every checkout, released together by a barrier: all
   healthy, no port shared, each contract (``runtime.env``, ``env.show``) naming its own
   services (the apps echo its instance id; PostgreSQL's and Redis's data dirs are its own);
   exactly one checkout holds the env file's ports (the first to lease), unless something
   outside the registry holds one: then nobody has that one, and the start says so;
2. the e2e suite (``nox -s e2e``, or ``--suite-command``) in every clone at the same moment;
3. ``services.stop`` in one: the others stay healthy, their pids unchanged; started again, it
   gets the same ports (and so does the seed holder);
4. ``rm -rf`` of a checkout with a running stack, ``services.prune`` from another: its
   processes end, its lease is freed, nothing else changes.

Prints a table and every claim; exit 1 when a claim breaks, 2 on bad usage. Whatever happens,
everything it started is stopped (``finally``), and the temp dir removed unless ``--keep``.

    python scripts/many_checkouts.py                      # 4 clones + 2 worktrees, nox -s e2e
    python scripts/many_checkouts.py --suite-command 'python -m pytest -p no:valkey tests/e2e'
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import psutil
import psycopg
import redis
from dotenv import dotenv_values

from realstack.waiting import WaitTimeout, wait_until

REPO = Path(__file__).resolve().parents[1]
ENV = "test"
SERVICES = ("postgres", "redis", "auth", "backend")
SEED_VARS = {
    "postgres": "POSTGRES_PORT",
    "redis": "REDIS_PORT",
    "auth": "AUTH_PORT",
    "backend": "BACKEND_PORT",
}
# contract variable → the service whose port it must name
CONTRACT_PORTS = {
    "DATABASE_URL": "postgres",
    "POSTGRES_SERVICE_URL": "postgres",
    "REDIS_URL": "redis",
    "REDIS_SERVICE_URL": "redis",
    "AUTH_SERVICE_URL": "auth",
    "BACKEND_SERVICE_URL": "backend",
    "WEBSOCKET_URL": "backend",
}
START_TIMEOUT = 600.0  # seconds: six stacks at once on two shared cores
SUITE_TIMEOUT = 1800.0  # nox makes a venv per clone on its first run
CMD_TIMEOUT = 180.0
GONE_TIMEOUT = 30.0  # a stopped process is reaped by whoever adopted it

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Checkout:
    """One checkout and what the run learnt about it."""

    name: str
    root: Path
    kind: str  # clone | worktree
    start_s: float | None = None
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    instance_id: str = ""
    suite: str = "-"
    notes: list[str] = field(default_factory=list)
    gone: bool = False


@dataclass
class Result:
    code: int
    output: str
    seconds: float


class Run:
    """The temp dir, its registry, the commands run in checkouts and the claims checked."""

    def __init__(self, base: Path, suite: list[str] | None) -> None:
        self.base = base
        self.suite = suite
        self.registry = base / "registry"
        self.checkouts: list[Checkout] = []
        self.failed: list[str] = []
        self.claims = 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("REALSTACK_")}
        for name in ("PYTHONPATH", "VIRTUAL_ENV", "NOX_DEFAULT_VENV_BACKEND"):
            env.pop(name, None)
        env["REALSTACK_HOME"] = str(self.registry)
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        self.env = env

    def claim(self, ok: bool, what: str, detail: str = "") -> bool:
        """Check one claim; print it; remember a broken one."""
        self.claims += 1
        print(f"  {'✓' if ok else '✗'} {what}" + (f": {detail}" if detail and not ok else ""))
        if not ok:
            self.failed.append(f"{what}: {detail}" if detail else what)
        return ok

    def run(
        self, co: Checkout, argv: Sequence[str], timeout: float, *, code_of_clone: bool = True
    ) -> Result:
        """``argv`` in ``co``; with ``code_of_clone`` Python imports realstack from the clone."""
        env = dict(self.env)
        if code_of_clone:
            env["PYTHONPATH"] = str(co.root / "src")
        t0 = time.monotonic()
        try:
            done = subprocess.run(
                list(argv),
                cwd=co.root,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = (_text(exc.stdout) + _text(exc.stderr))[-4000:]
            return Result(-1, f"timed out after {timeout:.0f}s\n{out}", time.monotonic() - t0)
        return Result(done.returncode, done.stdout + done.stderr, time.monotonic() - t0)

    def invoke(self, co: Checkout, *args: str, timeout: float = CMD_TIMEOUT) -> Result:
        return self.run(co, [sys.executable, "-m", "invoke", *args], timeout)

    def invoke_ok(self, co: Checkout, *args: str) -> Result | None:
        """``invoke args`` in ``co`` as a claim: exit 0."""
        res = self.invoke(co, *args)
        ok = self.claim(res.code == 0, f"{co.name}: invoke {' '.join(args)}", _tail(res.output))
        return res if ok else None

    def status(self, co: Checkout) -> list[dict[str, Any]]:
        """``services.status --json`` rows ([] when it failed: reported)."""
        res = self.invoke_ok(co, "services.status", "--json")
        if res is None:
            return []
        try:
            return list(json.loads(res.output)["services"])
        except (ValueError, KeyError, TypeError) as exc:
            self.claim(False, f"{co.name}: status --json is JSON", f"{exc}: {_tail(res.output)}")
            return []

    def suite_argv(self) -> list[str]:
        return self.suite or [sys.executable, "-m", "nox", "-s", "e2e"]


def _text(raw: str | bytes | None) -> str:
    if isinstance(raw, bytes):
        return raw.decode(errors="replace")
    return raw or ""


def _tail(text: str, lines: int = 15) -> str:
    return "\n      ".join(["", *text.strip().splitlines()[-lines:]])


def together(items: Sequence[T], fn: Callable[[T], R]) -> list[R]:
    """``fn`` on every item in threads released together by a barrier (the same moment)."""
    barrier = threading.Barrier(len(items))

    def at_once(item: T) -> R:
        barrier.wait(timeout=60)
        return fn(item)

    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(at_once, items))


# --------------------------------------------------------------------------- setting up


def git(*args: str, cwd: Path = REPO) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout.strip()


def make_checkouts(run: Run, clones: int, worktrees: int) -> None:
    """``clones`` clones of this repository's HEAD and ``worktrees`` worktrees of the first."""
    head = git("rev-parse", "HEAD")
    if git("status", "--porcelain", "--untracked-files=no"):
        print(f"note: {REPO} has uncommitted changes; the clones hold HEAD ({head[:10]}) only")
    for i in range(clones):
        root = run.base / f"clone-{i}"
        git("clone", "--quiet", str(REPO), str(root), cwd=run.base)
        git("checkout", "--quiet", "--detach", head, cwd=root)
        run.checkouts.append(Checkout(f"clone-{i}", root, "clone"))
    for j in range(worktrees):
        root = run.base / f"worktree-{j}"
        git("worktree", "add", "--quiet", "--detach", str(root), head, cwd=run.base / "clone-0")
        run.checkouts.append(Checkout(f"worktree-{j}", root, "worktree"))
    print(f"{clones} clones + {worktrees} worktrees of {head[:10]} in {run.base}")


def seeds() -> dict[str, int]:
    """The env file's ports: what the first checkout must get."""
    values = dotenv_values(REPO / "envs" / f"{ENV}.env")
    return {svc: int(str(values[var])) for svc, var in SEED_VARS.items()}


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def holder(port: int) -> str:
    """Who listens on ``port`` (as far as this user can see)."""
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            try:
                name = psutil.Process(conn.pid).name() if conn.pid else "?"
            except psutil.Error:
                name = "?"
            return f"pid {conn.pid} ({name})"
    return "something"


# --------------------------------------------------------------------------- the claims


def start_all(run: Run, checkouts: list[Checkout]) -> None:
    """``services.start --wait`` everywhere at the same moment: every one succeeds."""
    print(f"\n== {len(checkouts)} x invoke services.start --wait, at the same moment")
    results = together(
        checkouts, lambda co: run.invoke(co, "services.start", "--wait", timeout=START_TIMEOUT)
    )
    for co, res in zip(checkouts, results, strict=True):
        co.start_s = res.seconds
        co.notes += [line.strip() for line in res.output.splitlines() if "lease" in line.lower()]
        run.claim(res.code == 0, f"{co.name}: start exit 0 ({res.seconds:.1f}s)", _tail(res.output))


def observe(run: Run, co: Checkout) -> None:
    """Status: every service ours and healthy; remember its ports and pids."""
    rows = [r for r in run.status(co) if r.get("name") in SERVICES]  # not analytics'
    bad = [f"{r['name']}={r['state']}/{r['health']}" for r in rows if not _healthy(r)]
    run.claim(bool(rows) and not bad, f"{co.name}: all services ours and healthy", ", ".join(bad))
    co.ports = {r["name"]: int(r["port"]) for r in rows}
    co.pids = {r["name"]: int(r["pid"]) for r in rows if r.get("pid")}


def _healthy(row: Mapping[str, Any]) -> bool:
    return row.get("state") == "ours" and row.get("health") == "healthy"


def check_contract(run: Run, co: Checkout) -> None:
    """``runtime.env`` and ``env.show`` agree, and name this checkout's own services."""
    written = {
        k: v or "" for k, v in dotenv_values(co.root / ".realstack" / ENV / "runtime.env").items()
    }
    res = run.invoke_ok(co, "env.show", "--format", "json")
    shown: dict[str, str] = json.loads(res.output) if res is not None else {}
    run.claim(written == shown, f"{co.name}: runtime.env == env.show", _diff(written, shown))
    wrong = [
        f"{var}={written.get(var)} (ours: {svc} {co.ports.get(svc)})"
        for var, svc in CONTRACT_PORTS.items()
        if _port(written.get(var)) != co.ports.get(svc)
    ]
    run.claim(not wrong, f"{co.name}: contract names its own ports", ", ".join(wrong))
    co.instance_id = written.get("REALSTACK_INSTANCE_ID", "")
    for var in ("AUTH_SERVICE_URL", "BACKEND_SERVICE_URL"):
        who = _claimed(written.get(var, ""))
        run.claim(
            who == co.instance_id and bool(who),
            f"{co.name}: {var} answers as its instance",
            f"health says {who!r}, contract {co.instance_id!r}",
        )
    mine = str(co.root.resolve())
    for what, where in (("postgres", _pg_dir(written)), ("redis", _redis_dir(written))):
        run.claim(where.startswith(mine), f"{co.name}: {what} serves its own data dir", f"{where}")


def _diff(a: Mapping[str, str], b: Mapping[str, str]) -> str:
    keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    return ", ".join(f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in keys)


def _port(url: str | None) -> int | None:
    try:
        return urlsplit(url or "").port
    except ValueError:
        return None


def _claimed(base: str) -> str:
    try:
        body = httpx.get(f"{base}/health", timeout=10, trust_env=False).json()
    except (httpx.HTTPError, ValueError) as exc:
        return f"(no answer: {exc})"
    return str(body.get("instance", "")) if isinstance(body, dict) else ""


def _pg_dir(contract: Mapping[str, str]) -> str:
    try:
        with psycopg.connect(contract.get("DATABASE_URL", ""), connect_timeout=10) as conn:
            row = conn.execute("SHOW data_directory").fetchone()
        return str(row[0]) if row else "(none)"
    except (psycopg.Error, ValueError) as exc:
        return f"(no answer: {exc})"


def _redis_dir(contract: Mapping[str, str]) -> str:
    try:
        client = redis.Redis.from_url(contract.get("REDIS_URL", ""), socket_timeout=10)
        with client:
            return str(dict(client.config_get("dir")).get("dir", "(none)"))
    except (redis.RedisError, ValueError) as exc:
        return f"(no answer: {exc})"


def check_disjoint(run: Run, checkouts: list[Checkout]) -> None:
    owners: dict[int, list[str]] = {}
    for co in checkouts:
        for svc, port in co.ports.items():
            owners.setdefault(port, []).append(f"{co.name}/{svc}")
    shared = {p: who for p, who in owners.items() if len(who) > 1}
    run.claim(not shared, "no port shared by two checkouts", str(shared))
    ids = [co.instance_id for co in checkouts]
    run.claim(len(set(ids)) == len(ids), "every checkout is its own instance", str(ids))


def check_seeds(run: Run, checkouts: list[Checkout], seed: dict[str, int]) -> None:
    """Exactly one checkout (the first to lease) holds the env file's ports."""
    holders = [co for co in checkouts if all(co.ports.get(s) == p for s, p in seed.items())]
    run.claim(
        len(holders) == 1,
        f"exactly one checkout holds the seed ports {seed}",
        f"holders: {[co.name for co in holders]}",
    )
    for co in holders:
        co.notes.append("seeds")


def run_suites(run: Run, clones: list[Checkout]) -> None:
    argv = run.suite_argv()
    print(f"\n== {len(clones)} x {shlex.join(argv)}, at the same moment")
    by_nox = run.suite is None
    results = together(
        clones, lambda co: run.run(co, argv, SUITE_TIMEOUT, code_of_clone=not by_nox)
    )
    for co, res in zip(clones, results, strict=True):
        co.suite = f"{'green' if res.code == 0 else f'exit {res.code}'} {res.seconds:.0f}s"
        run.claim(
            res.code == 0, f"{co.name}: suite green ({res.seconds:.0f}s)", _tail(res.output, 40)
        )


def unchanged(run: Run, others: list[Checkout], after: str) -> None:
    """Every checkout of ``others``: still healthy, same pids."""
    for co in others:
        before = dict(co.pids)
        observe(run, co)
        run.claim(
            co.pids == before, f"{co.name}: pids unchanged after {after}", f"{before} → {co.pids}"
        )


def stop_one_restart(run: Run, co: Checkout, live: list[Checkout], what: str) -> None:
    """Stop ``co``: the others stay as they were; start it again: the same ports."""
    print(f"\n== invoke services.stop in {co.name} ({what}), then start it again")
    ports = dict(co.ports)
    run.invoke_ok(co, "services.stop")
    rows = [r for r in run.status(co) if r.get("name") in SERVICES]
    up = [r["name"] for r in rows if r.get("state") != "down"]
    run.claim(bool(rows) and not up, f"{co.name}: every service down after its stop", str(up))
    busy = [p for p in co.ports.values() if answers(p)]
    run.claim(not busy, f"{co.name}: its ports answer no more", str(busy))
    unchanged(run, [c for c in live if c is not co], f"{co.name}'s stop")
    res = run.invoke(co, "services.start", "--wait", timeout=START_TIMEOUT)
    run.claim(res.code == 0, f"{co.name}: started again", _tail(res.output))
    observe(run, co)
    run.claim(
        co.ports == ports, f"{co.name}: the same ports on its next start", f"{ports} → {co.ports}"
    )


def processes_of(co: Checkout) -> list[psutil.Process]:
    """``co``'s service processes and their descendants, as they run now."""
    procs = []
    for pid in co.pids.values():
        try:
            proc = psutil.Process(pid)
            procs += [proc, *proc.children(recursive=True)]
        except psutil.Error:
            continue
    return procs


def ended(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def delete_and_prune(run: Run, victim: Checkout, pruner: Checkout, rest: list[Checkout]) -> None:
    """rm -rf a checkout whose stack runs; ``services.prune`` elsewhere stops only it."""
    print(f"\n== rm -rf {victim.name} (stack running), invoke services.prune in {pruner.name}")
    procs = processes_of(victim)
    run.claim(bool(procs), f"{victim.name}: its stack runs before the rm", "no process found")
    _remove(victim.root)
    victim.gone = True
    listed = _listed(run, pruner)
    state = listed.get(victim.instance_id, {}).get("state")
    run.claim(state == "checkout gone", f"services.list: {victim.name} 'checkout gone'", str(state))
    res = run.invoke_ok(pruner, "services.prune")
    if res is not None:
        print(_tail(res.output, 20).replace("\n      ", "\n    | "))
    try:
        wait_until(lambda: _alive(procs), GONE_TIMEOUT)
        left = ""
    except WaitTimeout as exc:
        left = exc.last_error
    run.claim(not left, f"{victim.name}: every process of its stack ended", left)
    busy = [p for p in victim.ports.values() if answers(p)]
    run.claim(not busy, f"{victim.name}: its ports answer no more", str(busy))
    listed = _listed(run, pruner)
    run.claim(victim.instance_id not in listed, f"{victim.name}: its lease is freed (forgotten)")
    kept = [co.name for co in rest if co.instance_id not in listed]
    run.claim(not kept, "the other instances stay in the registry", f"forgotten: {kept}")
    unchanged(run, rest, "the prune")


def _alive(procs: list[psutil.Process]) -> str | None:
    alive = [f"{p.pid}" for p in procs if not ended(p)]
    return f"still running: pids {', '.join(alive)}" if alive else None


def _remove(root: Path) -> None:
    """rm -rf, as a user would (a server may still write into it: try until it is gone)."""

    def gone() -> str | None:
        done = subprocess.run(["rm", "-rf", str(root)], capture_output=True, text=True, check=False)
        return None if not root.exists() else done.stderr.strip() or "still there"

    wait_until(gone, 60)


def _listed(run: Run, co: Checkout) -> dict[str, dict[str, Any]]:
    res = run.invoke_ok(co, "services.list", "--json")
    try:
        return {e["instance_id"]: e for e in json.loads(res.output)} if res else {}
    except (ValueError, KeyError, TypeError):
        return {}


# --------------------------------------------------------------------------- tearing down


def stop_everything(run: Run) -> None:
    """Stop every stack this run started; prune what a deleted checkout left; then sweep for
    any process still running out of the temp dir (a leak: reported, and stopped)."""
    live = [co for co in run.checkouts if not co.gone and co.root.exists()]
    if live:
        for co, res in zip(
            live, together(live, lambda co: run.invoke(co, "services.stop")), strict=True
        ):
            if res.code != 0:
                run.failed.append(f"teardown: {co.name}: services.stop failed{_tail(res.output)}")
        if any(co.gone for co in run.checkouts):
            run.invoke(live[0], "services.prune")
    leaked = _ours_still_running(run.base)
    if leaked:
        run.failed.append(f"teardown: left running: {[p.pid for p in leaked]}")
        for proc in leaked:
            try:
                proc.kill()
            except psutil.Error:
                continue


def _ours_still_running(base: Path) -> list[psutil.Process]:
    """Processes whose marks, command line or cwd lead into ``base`` (only this run's)."""
    mark = str(base)
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            if proc.pid == os.getpid():
                continue
            owner = proc.environ().get("REALSTACK_OWNER", "")
            cmd = " ".join(proc.info["cmdline"] or [])
            ours = mark in owner or mark in cmd or (proc.info["cwd"] or "").startswith(mark)
            if ours and "many_checkouts" not in cmd:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def table(run: Run) -> None:
    print()
    head = ("CHECKOUT", "KIND", "POSTGRES", "REDIS", "AUTH", "BACKEND", "START", "SUITE", "NOTE")
    rows: list[tuple[str, ...]] = [head]
    for co in run.checkouts:
        ports = [str(co.ports.get(s, "-")) for s in SERVICES]
        start = f"{co.start_s:.1f}s" if co.start_s is not None else "-"
        note = "; ".join(dict.fromkeys(co.notes)) + (" (deleted, pruned)" if co.gone else "")
        rows.append((co.name, co.kind, *ports, start, co.suite, note))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


# --------------------------------------------------------------------------- main


def scenario(run: Run, clones: int, worktrees: int) -> None:
    seed = seeds()
    held = {p for p in seed.values() if answers(p)}
    for port in sorted(held):
        # realstack refuses a port a stranger holds (PortInUse, README "Many checkouts"): the
        # checkout that leased the seeds would fail, and "the first keeps the seeds" is moot
        run.claim(
            False,
            f"seed port {port} is free before the run",
            f"held by {holder(port)}, outside this run's registry: realstack refuses it",
        )
    if held:
        return
    make_checkouts(run, clones, worktrees)
    every = list(run.checkouts)
    start_all(run, every)
    print("\n== status and contract of every checkout")
    for co in every:
        observe(run, co)
        check_contract(run, co)
    check_disjoint(run, every)
    check_seeds(run, every, seed)
    suited = [co for co in every if co.kind == "clone"]
    run_suites(run, suited)
    for co in suited:  # the suite's resilience tests restart its own auth: healthy again
        observe(run, co)
    unchanged(run, [co for co in every if co not in suited], "the suites")
    leased = next(co for co in every if "seeds" not in co.notes and co.kind == "clone")
    stop_one_restart(run, leased, every, "leased ports")
    first = next((co for co in every if "seeds" in co.notes), None)
    if first is not None:
        stop_one_restart(run, first, every, "the seed ports")
    victim = every[-1]
    pruner = next(co for co in every if co is not victim)
    delete_and_prune(run, victim, pruner, [co for co in every if co is not victim])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clones", type=int, default=4, help="clones (default 4, at least 2)")
    parser.add_argument("--worktrees", type=int, default=2, help="worktrees of the first clone")
    parser.add_argument(
        "--suite-command",
        help="run instead of `nox -s e2e` in each clone (e.g. 'python -m pytest tests/e2e')",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (stacks stopped)")
    args = parser.parse_args(argv)
    if args.clones < 2 or args.worktrees < 0:
        parser.error("--clones must be at least 2 and --worktrees at least 0")
    suite = shlex.split(args.suite_command) if args.suite_command else None
    if args.suite_command is not None and not suite:
        parser.error("--suite-command is empty")
    base = Path(tempfile.mkdtemp(prefix="realstack-many-"))
    base.chmod(0o755)  # as root PostgreSQL runs as 'postgres': it must reach the clones
    run = Run(base, suite)
    t0 = time.monotonic()
    try:
        scenario(run, args.clones, args.worktrees)
    except Exception as exc:  # noqa: BLE001 - said, and everything still stopped below
        traceback.print_exc()
        run.failed.append(f"the run stopped: {type(exc).__name__}: {exc}")
    finally:
        print("\n== teardown: stop every stack of this run")
        stop_everything(run)
        table(run)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    took = time.monotonic() - t0
    print(f"\n{run.claims} claims checked in {took:.0f}s; {len(run.failed)} broken")
    for line in run.failed:
        print(f"  ✗ {line}")
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())

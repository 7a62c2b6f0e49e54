#!/usr/bin/env python3
"""Benchmark: realstack's cold start, warm start and stop beside the raw binaries.

Everything runs in one throwaway project under /tmp with OS-assigned ports. The "raw" figure
is a plain script's critical path: exec ``postgres`` and the Redis server on the same data
directories, in parallel, until ``SELECT 1`` and ``PING`` answer. Prints figures (medians of
``--rounds``) and the targets; asserts nothing. Then the pytest plugin's overhead
(``scripts/bench_plugin.py``; ``--plugin-rounds 0`` skips it). ``--peers`` runs only the
comparison with pytest-postgresql, pytest-redis, pytest-databases and testcontainers
(``scripts/bench_peers.py``).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_docker import docker_rounds, print_docker
from bench_many import many_stacks
from bench_peers import add_peer_arguments, peers
from bench_plugin import plugin_overhead
from bench_workers import e2e_workers

from realstack import orchestrator, probes
from realstack.manifest import load_stack
from realstack.model import Stack
from realstack.providers.native.launch import launch_spec, stop_signal
from realstack.state import InstancePaths
from realstack.supervisor import as_user
from realstack.waiting import wait_until

MANIFEST = """
[tool.realstack]
[tool.realstack.services.postgres]
kind = "postgres"
port = "{pg}"
user = "bench"
password = "bench"
database = "bench"
durable = false
[tool.realstack.services.redis]
kind = "redis"
port = "{redis}"
durable = false
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def within(value: float, limit: float, shown: str = "") -> str:
    return f"<= {shown or limit}  {'met' if value <= limit else 'MISSED'}"


def invoke(cli: list[str], root: Path, *args: str) -> None:
    subprocess.run([*cli, *args], cwd=root, check=True, capture_output=True)


def cli_reads(cli: list[str], root: Path) -> dict[str, float]:
    """One round of the read-only commands (the stack running), and of the floor under every
    command, which is not realstack's: the interpreter, then invoke without our tasks."""
    return {
        "status": timed(lambda: invoke(cli, root, "services.status")),
        "show": timed(lambda: invoke(cli, root, "env.show")),
        "bare": timed(lambda: invoke([sys.executable, "-c", "pass"], root)),
        "invoke": timed(lambda: invoke(cli, root, "--version")),
        "list": timed(lambda: invoke(cli, root, "--list")),
    }


def raw_start_stop(stack: Stack) -> float:
    """Start both servers as a plain script would; return the time until both answer."""
    paths = InstancePaths(stack.state_dir)
    specs = [  # argv only
        launch_spec(s, paths, {}, stack.instance_id, lambda: None) for s in stack.services
    ]
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            spec.argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=spec.cwd,
            env=spec.env,
            **as_user(spec.user),
        )
        for spec in specs
    ]
    with ThreadPoolExecutor(len(procs)) as pool:
        list(pool.map(lambda s: wait_until(probes.check_for(s), 30), stack.services))
    elapsed = time.perf_counter() - t0
    for proc, svc in zip(procs, stack.services, strict=True):
        proc.send_signal(stop_signal(svc))
    for proc in procs:
        proc.wait(timeout=30)
    return elapsed


def forget_bench_projects() -> int:
    """Prune the registry entries of the benches' own throwaway projects (a temp dir named
    ``realstack-bench-*``, deleted by now): stopped on the providers' proof as `invoke
    services.prune` stops them, then forgotten, so a bench leaves no "checkout gone" rows."""
    from realstack import registry, salvage  # noqa: PLC0415

    temp = Path(tempfile.gettempdir())
    forgotten = 0
    for entry in registry.entries():
        root = Path(entry.root)
        ours = root.is_relative_to(temp) and any(
            part.startswith("realstack-bench-") for part in root.relative_to(temp).parts
        )
        gone = ours and not entry.checkout_exists
        if gone and salvage.stop_gone(entry.stack(), list(entry.ports)).ok:
            registry.forget(entry.instance_id)
            forgotten += 1
    return forgotten


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--docker",
        action="store_true",
        help="also time the docker provider beside `docker compose up --wait`",
    )
    add_peer_arguments(parser)
    parser.add_argument(
        "--plugin-rounds", type=int, default=5, help="plugin overhead runs (0: skip)"
    )
    parser.add_argument("--stacks", type=int, default=4, help="N stacks at once (0: skip)")
    parser.add_argument(
        "--workers-rounds", type=int, default=3, help="e2e serial vs -n 2 rounds (0: skip)"
    )
    args = parser.parse_args()
    try:
        _bench(args)
    finally:
        forget_bench_projects()


def _bench(args: argparse.Namespace) -> None:
    if args.peers:  # only the comparison with the peers (their packages: the bench session)
        peers(args.peers_tests, args.peers_rounds, args.peers_container_tests)
        return
    root = Path(tempfile.mkdtemp(prefix="realstack-bench-"))
    root.chmod(0o755)
    (root / "envs").mkdir()
    (root / "envs" / "test.env").write_text("")
    (root / "pyproject.toml").write_text(MANIFEST.format(pg=free_port(), redis=free_port()))
    (root / "tasks.py").write_text("from realstack.tasks import namespace as ns  # noqa: F401\n")
    stack = load_stack(root, "test", environ={})
    cli = [sys.executable, "-m", "invoke", "--search-root", str(root)]
    try:
        first = timed(lambda: orchestrator.start(stack).raise_for_errors())
        orchestrator.stop(stack).raise_for_errors()
        raw, cold, warm, stop, cli_cold, cli_warm, cli_stop, reads = ([] for _ in range(8))
        for _ in range(args.rounds):
            raw.append(raw_start_stop(stack))
            cold.append(timed(lambda: orchestrator.start(stack).raise_for_errors()))
            warm.append(timed(lambda: orchestrator.start(stack).raise_for_errors()))
            stop.append(timed(lambda: orchestrator.stop(stack).raise_for_errors()))
            cli_cold.append(timed(lambda: invoke(cli, root, "services.start", "--wait")))
            cli_warm.append(timed(lambda: invoke(cli, root, "services.start", "--wait")))
            reads.append(cli_reads(cli, root))
            cli_stop.append(timed(lambda: invoke(cli, root, "services.stop")))
    finally:
        orchestrator.stop(stack)
        shutil.rmtree(root, ignore_errors=True)

    med = statistics.median
    read = {name: med(r[name] for r in reads) for name in reads[0]}
    print(f"realstack benchmark: postgres + redis, median of {args.rounds} rounds\n")
    print(f"{'measure':<44}{'seconds':>9}  target")
    rows = [
        ("raw binaries, plain script (critical path)", med(raw), ""),
        ("first start (template initdb + copy)", first, ""),
        (
            "cold start, API (data kept, nothing running)",
            med(cold),
            within(med(cold), 1.2 * med(raw), f"1.2x raw = {1.2 * med(raw):.3f}"),
        ),
        ("warm start, API (all running)", med(warm), within(med(warm), 0.5)),
        ("stop, API", med(stop), within(med(stop), 0.5)),
        ("cold start, `invoke services.start --wait`", med(cli_cold), "(includes interpreter)"),
        ("warm start, `invoke services.start --wait`", med(cli_warm), within(med(cli_warm), 0.3)),
        ("status, `invoke services.status`", read["status"], within(read["status"], 0.3)),
        ("env contract, `invoke env.show`", read["show"], within(read["show"], 0.3)),
        ("stop, `invoke services.stop`", med(cli_stop), within(med(cli_stop), 0.5)),
        ("  floor: `python -c pass`", read["bare"], "(interpreter)"),
        ("  floor: `invoke --version`", read["invoke"], "(interpreter + invoke, no tasks)"),
        ("  `invoke --list`", read["list"], "(+ realstack's task definitions)"),
    ]
    for name, value, target in rows:
        print(f"{name:<44}{value:>9.3f}  {target}")
    print(f"\ncold/raw ratio: {med(cold) / med(raw):.2f}")
    if args.docker:
        print_docker(docker_rounds(args.rounds, free_port), med(cold))
    if args.stacks:
        many_stacks(args.stacks, max(1, args.rounds // 2), free_port)
    if args.plugin_rounds:
        plugin_overhead(args.plugin_rounds)
    if args.workers_rounds:
        e2e_workers(args.workers_rounds)


if __name__ == "__main__":
    main()

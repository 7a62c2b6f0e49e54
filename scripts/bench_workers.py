#!/usr/bin/env python3
"""Benchmark: this repository's e2e suite serially beside ``-n 2`` (two xdist workers).

Both run against one running test stack (started here if it is not up, and then stopped
again; a stack that was already running is kept), in the same run, interleaved, the order
swapped every round so drift on a shared machine weighs on both; the figure is the median
wall time of ``python -m pytest tests/e2e -q``. Beside them, the same two commands selecting
one test that only reads the contract (every module is still collected): a run's fixed cost
(interpreters, plugins, collection, the health gate, xdist starting and stopping its workers),
which two workers cannot share out; and the pair again without the outage tests (they hold the
stack alone): what is left is xdist's own cost and the cores the workers share with the
services. A run that fails is an error, not a figure. Prints figures; asserts nothing about
them. Run by ``scripts/bench.py`` (``nox -s
bench``), or alone.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from realstack import orchestrator
from realstack.manifest import load_stack
from realstack.results import Action

ROOT = Path(__file__).resolve().parents[1]
ENV = "test"
# as `nox -s e2e` runs it (noxfile's E2E: the plugins the suite does not use are not loaded)
PLUGINS_OFF = ("-p", "no:valkey", "-p", "no:anyio", "-p", "no:hypothesispytest")
PYTEST = (sys.executable, "-m", "pytest", "tests/e2e", "-q", *PLUGINS_OFF)
WORKERS = ("-n", "2")
ONE_TEST = ("-k", "test_contract_names_the_test_stack")
# the suite without its outage tests (p3: resilience), which hold the stack alone
NO_OUTAGES = ("-m", "not p3")
# the plugin's summary: how long the tests' outages held the stack alone (a serial run's)
ALONE = re.compile(r"outages held the stack alone for ([0-9.]+)s")
TARGET = 0.65  # issue #15: -n 2 within 0.65x of the serial run


def _busy() -> float:
    """CPU seconds the whole machine has spent busy so far (Linux /proc/stat; 0 elsewhere):
    the services' share counts too, since they run on the same cores as the workers."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _timed(root: Path, args: Sequence[str]) -> tuple[float, float, float]:
    """Wall seconds of one run, the cores the machine kept busy meanwhile on average, and the
    seconds its outages held the stack alone (the plugin's summary says)."""
    t0, busy0 = time.perf_counter(), _busy()
    done = subprocess.run([*PYTEST, *args], cwd=root, capture_output=True, text=True, check=False)
    elapsed, busy = time.perf_counter() - t0, _busy() - busy0
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise RuntimeError(f"pytest {' '.join(args)} exited {done.returncode}:\n{tail}")
    alone = ALONE.search(done.stdout)
    return elapsed, busy / elapsed, float(alone.group(1)) if alone else 0.0


def _round(root: Path, swap: bool) -> dict[str, tuple[float, float, float]]:
    """One of each, in this round's order (``swap``: the workers first)."""
    runs = {
        "serial": (),
        "-n 2": WORKERS,
        "serial fixed": ONE_TEST,
        "-n 2 fixed": (*WORKERS, *ONE_TEST),
        "serial no outages": NO_OUTAGES,
        "-n 2 no outages": (*WORKERS, *NO_OUTAGES),
    }
    order = list(runs)
    if swap:  # each pair the other way round
        order = [name for pair in zip(order[1::2], order[::2], strict=True) for name in pair]
    return {name: _timed(root, runs[name]) for name in order}


def e2e_workers(rounds: int, root: Path = ROOT) -> None:
    """Print the e2e suite's wall time serially and with two workers, median of ``rounds``.

    ``root``: the checkout whose suite and stack are timed (another one: a before/after).
    """
    stack = load_stack(root, ENV)
    report = orchestrator.start(stack)
    report.raise_for_errors()
    started = [r.name for r in report.results if r.action in (Action.STARTED, Action.RESTARTED)]
    try:
        _timed(root, WORKERS)  # warm-up: bytecode caches, the services' pools and connections
        results = [_round(root, swap=bool(i % 2)) for i in range(rounds)]
    finally:
        if started:
            orchestrator.stop(stack, only=started)
    med = {name: statistics.median(r[name][0] for r in results) for name in results[0]}
    cores_busy = {name: statistics.median(r[name][1] for r in results) for name in results[0]}
    ratio = med["-n 2"] / med["serial"]
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"\ne2e suite ({root}/tests/e2e) on one running test stack, median of {rounds} rounds:")
    print(f"{'e2e serial, `pytest tests/e2e`':<52}{med['serial']:>9.3f}")
    print(f"{'e2e -n 2, `pytest tests/e2e -n 2`':<52}{med['-n 2']:>9.3f}")
    print(f"{'ratio -n 2 / serial':<52}{ratio:>9.2f}  target <= {TARGET}x  {verdict}")
    print(f"{'  fixed cost: 1 test selected, serial':<52}{med['serial fixed']:>9.3f}")
    print(f"{'  fixed cost: 1 test selected, -n 2':<52}{med['-n 2 fixed']:>9.3f}")
    cores = len(os.sched_getaffinity(0))
    print(f"{'  cores':<52}{cores:>9d}  (the services share them with the workers)")
    busy = cores_busy["serial"]
    print(
        f"{'  cores busy on average, serial run':<52}{busy:>9.2f}  "
        f"(-n 2 cannot beat {busy / cores:.2f}x of serial here: the work no longer fits)"
    )
    print(f"{'  cores busy on average, -n 2 run':<52}{cores_busy['-n 2']:>9.2f}")
    # Amdahl, with xdist free of cost: the fixed part once, the outages' windows (the stack
    # held alone) one after another, the rest halved.
    fixed = med["serial fixed"]
    alone = statistics.median(r["serial"][2] for r in results)
    shared = max(0.0, med["serial"] - fixed - alone)
    bound = (fixed + alone + shared / 2) / med["serial"]
    print(
        f"{'  outages: the stack held alone (realstack.outage)':<52}{alone:>9.3f}  "
        f"of {alone + shared:.3f} s of tests: even a free -n 2 is >= {bound:.2f}x serial"
    )
    # the same, with xdist's start-up as measured (its fixed cost instead of the serial one)
    floor = (med["-n 2 fixed"] + alone + shared / 2) / med["serial"]
    print(f"{'  the same with xdist start-up as measured':<52}{'':>9}  -n 2 >= {floor:.2f}x serial")
    bare = med["-n 2 no outages"] / med["serial no outages"]
    label = "  without the outage tests (-m 'not p3'): serial"
    print(f"{label:<52}{med['serial no outages']:>9.3f}")
    print(
        f"{'  without the outage tests: -n 2':<52}{med['-n 2 no outages']:>9.3f}  "
        f"{bare:.2f}x: xdist's start-up and the shared cores alone"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to time")
    args = parser.parse_args()
    e2e_workers(args.rounds, args.root.resolve())


if __name__ == "__main__":
    main()

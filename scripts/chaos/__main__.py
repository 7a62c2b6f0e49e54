"""Chaos: SIGKILL ``services.start`` at random and aimed moments, then count what is left.

Why: ownership has to hold when the starter dies anywhere (above all between spawning a server
and writing its record), when a checkout is copied together with its state, and when records
are forged or garbled. The process tests pin each rule once; this drives the real CLI over and
over against real PostgreSQL, Redis (native or in Docker) and a small HTTP process in a
throwaway project, and counts what ``services.stop`` leaves (processes, ports, containers),
restarts that fail, foreign processes signalled, ownership lost and tracebacks. Exit 1 if any
count is nonzero. Information only: "window hits" (kills that landed after a server was
spawned and before its record was written) and "refusals" (a directory, symlink or FIFO where
a record belongs, refused with a message naming it).

Kill modes: random (within the measured start time), after-line (a `<service> starting`
progress line, plus 0-200 ms), after-spawn (the server's process or container exists), and
with docker mid-compose (its `compose up` runs).

    python scripts/chaos --provider native --rounds 100
    python scripts/chaos --provider docker --rounds 20  # engine + images, as for nox -s docker

Run as a directory: Python puts it on sys.path, so its modules import each other by plain
name (prefixed ``chaos_`` so they cannot clash with other top-level modules mypy checks).
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
from types import FrameType
from typing import NoReturn

from chaos_checkouts import copy_round, finish_a, forged_round, shared_round
from chaos_kills import baseline, kill_round
from chaos_run import Chaos


def _terminate(signum: int, frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)  # runs the cleanup in the finally below


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--provider", choices=("native", "docker"), default="native")
    parser.add_argument("--rounds", type=int, default=90, help="kill rounds, split over modes")
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(2**31))
    parser.add_argument("--budget", type=float, default=1800, help="no new round after (s)")
    parser.add_argument(
        "--shared-state",
        action="store_true",
        help="also stop another checkout that shares A's REALSTACK_STATE_DIR (counted)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    chaos = Chaos(args)
    print(f"chaos: {args.provider}, {args.rounds} rounds, seed {args.seed}, in {chaos.workdir}")
    finished = False
    try:
        proj = chaos.new_project("a")
        baseline(chaos, proj)
        for index in range(args.rounds):
            if time.monotonic() > chaos.deadline:
                chaos.notes.append(f"--budget reached after {index} of {args.rounds} rounds")
                break
            kill_round(chaos, proj, index, args.rounds)
        chaos.note_debris(proj)
        if copy_round(chaos, proj):
            forged_round(chaos, proj)
            if args.shared_state:
                shared_round(chaos, proj)
        finish_a(chaos, proj)
        finished = True
    finally:
        chaos.cleanup()
        if not finished:  # the figures so far, before the error itself
            chaos.report(started)
    return chaos.report(started)


if __name__ == "__main__":
    sys.exit(main())

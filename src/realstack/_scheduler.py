"""Run a phase graph on a thread pool: each node as soon as its predecessors are done, no new
node after the first failure, and the failing node's error kept for the caller."""

from __future__ import annotations

import graphlib
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from realstack.interrupts import held_off

N = TypeVar("N")
# The driver wakes this often (seconds) so that Python runs a signal handler in it: a SIGTERM
# the kernel hands to a worker thread only sets a flag, and an untimed wait would hear it when
# a step ends, up to a startup_timeout later.
SIGNAL_CHECK = 0.1


class Cancelled(Exception):
    """Raised by a step that noticed the run was cancelled (not an error of its own)."""


def run_graph(
    sorter: graphlib.TopologicalSorter[N],
    step: Callable[[N], None],
    cancel: threading.Event,
    workers: int,
) -> dict[N, BaseException]:
    """Run ``step`` per node in dependency order; the errors by node (empty: all done).

    On the first error ``cancel`` is set so running steps can give up at their next poll;
    on an exception in the driver itself (Ctrl-C) too, before it propagates.
    """
    sorter.prepare()
    errors: dict[N, BaseException] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending: dict[Future[None], N] = {}
        try:
            while sorter.is_active() or pending:
                if not errors:
                    for node in sorter.get_ready():
                        pending[pool.submit(step, node)] = node
                if not pending:
                    break
                done, _ = wait(pending, timeout=SIGNAL_CHECK, return_when=FIRST_COMPLETED)
                for future in done:
                    node = pending.pop(future)
                    exc = future.exception()
                    if exc is None:
                        sorter.done(node)
                    elif not isinstance(exc, Cancelled):
                        errors[node] = exc
                        cancel.set()
        except BaseException:
            cancel.set()  # workers notice at their next poll; the pool then joins them
            with held_off():  # what they launch meanwhile is recorded before the rollback
                pool.shutdown(wait=True)
            raise
    return errors

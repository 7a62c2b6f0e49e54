"""Run every target's check at once, each against its own deadline.

One daemon thread per target rather than a ``ThreadPoolExecutor``: the executor's threads
are joined when the interpreter exits, so a lookup that never returns (``getaddrinfo`` has
no timeout) would hold the command past its deadline. A check still running at the deadline
is reported ``cannot-answer`` and left behind.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from realstack.model import Stack
from realstack.staging.net import Deadline, trust
from realstack.staging.targets import (
    DEFAULT_TIMEOUT,
    Kind,
    Settings,
    Target,
    settings_of,
    targets_of,
)
from realstack.staging.verdict import EXIT_CODES, Level, Row, overall

Check = Callable[[Target, Settings, ssl.SSLContext, Deadline], Row]
GRACE = 1.0  # beyond the deadline, for a check to turn its own timeout into a row


@dataclass(frozen=True)
class Report:
    env: str
    rows: list[Row]
    seconds: float

    @property
    def verdict(self) -> Level:
        return overall(self.rows)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for row in self.rows:
            found[row.verdict] = found.get(row.verdict, 0) + 1
        return found


def _check_of(kind: Kind) -> Check:
    """The check for ``kind``; its client library is imported only when a target needs it."""
    if kind in ("http", "clickhouse"):
        from realstack.staging.web import check_http  # noqa: PLC0415

        return check_http
    if kind == "websocket":
        from realstack.staging.ws import check_websocket  # noqa: PLC0415

        return check_websocket
    from realstack.staging import stores  # noqa: PLC0415

    return stores.check_postgres if kind == "postgres" else stores.check_redis


def _spawn(target: Target, settings: Settings, ctx: ssl.SSLContext) -> Future[Row]:
    future: Future[Row] = Future()

    def run() -> None:
        deadline = Deadline.after(settings.timeout)
        try:
            future.set_result(_check_of(target.kind)(target, settings, ctx, deadline))
        except ImportError as exc:  # an optional client library (websockets) is missing
            row = Row.of(target)
            row.add("cannot-answer", f"cannot check: {exc.name} is not installed")
            future.set_result(row)
        except BaseException as exc:  # noqa: BLE001 - a bug: re-raised in the caller's thread
            future.set_exception(exc)

    threading.Thread(target=run, name=f"staging-check-{target.name}", daemon=True).start()
    return future


def check(stack: Stack, timeout: float = DEFAULT_TIMEOUT) -> Report:
    """Check every target of the deployed ``stack`` concurrently; never changes anything."""
    targets = targets_of(stack)
    settings = settings_of(stack.variables, timeout)
    ctx = trust()
    started = time.monotonic()
    futures = [_spawn(t, settings, ctx) if t.url else None for t in targets]
    end = started + timeout + GRACE
    rows: list[Row] = []
    for target, future in zip(targets, futures, strict=True):
        if future is None:
            rows.append(Row.of(target))
            continue
        try:
            rows.append(future.result(timeout=max(end - time.monotonic(), 0)))
        except FutureTimeout:
            row = Row.of(target)
            row.add("cannot-answer", f"no answer within {timeout:g} s")
            rows.append(row)
    return Report(stack.env, rows, time.monotonic() - started)

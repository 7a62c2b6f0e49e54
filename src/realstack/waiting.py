"""The only poll loop in realstack: monotonic deadline, adaptive interval, injectable clock.

A check returns ``None`` when the condition holds, otherwise a short description of why not
(the "last error" shown when the wait times out). A check may raise to abort the wait at once,
e.g. when the process it waits for has exited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

Check = Callable[[], str | None]
Tick = Callable[[float, str], None]


class WaitTimeout(Exception):
    """The condition did not hold before the deadline (mapped to a RealstackError by callers)."""

    def __init__(self, last_error: str, elapsed: float, timeout: float) -> None:
        self.last_error = last_error
        self.elapsed = elapsed
        self.timeout = timeout
        super().__init__(f"timed out after {elapsed:.2f}s: {last_error}")


@dataclass(frozen=True)
class Clock:
    """Time source and sleeper; tests pass a fake one."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


REAL_CLOCK = Clock()


def wait_until(
    check: Check,
    timeout: float,
    *,
    clock: Clock = REAL_CLOCK,
    initial: float = 0.005,
    fraction: float = 0.1,
    max_interval: float = 0.25,
    on_tick: Tick | None = None,
    tick_every: float = 2.0,
) -> float:
    """Call ``check`` until it returns ``None``; return the elapsed seconds.

    A wait overshoots readiness by up to one interval, so the interval is a ``fraction`` of
    the time waited so far: 5 ms (``initial``) for the first 50 ms (a local server is up
    within tens of milliseconds), then a tenth of the wait (an app that takes 0.4 s is seen
    within 40 ms, not the 77 ms a back-off of x1.2 per poll had grown to), at most
    ``max_interval`` so a slow service is not hammered. ``on_tick(elapsed, last_error)`` is
    called about every ``tick_every`` seconds, for progress output.
    """
    start = clock.now()
    deadline = start + timeout
    next_tick = start + tick_every
    while True:
        last_error = check()
        now = clock.now()
        if last_error is None:
            return now - start
        if now >= deadline:
            raise WaitTimeout(last_error, now - start, timeout)
        if on_tick is not None and now >= next_tick:
            on_tick(now - start, last_error)
            next_tick = now + tick_every
        interval = min(max(initial, (now - start) * fraction), max_interval)
        clock.sleep(min(interval, deadline - now))

"""Ask every service at once: a probe, a login or a server's ``--version`` waits on another
process, and one slow answer should not add to the others' time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def each(fn: Callable[[T], R], items: Sequence[T], name: str) -> list[R]:
    """``fn`` of every item, in their order, a thread each (``name``: the threads' prefix)."""
    if len(items) < 2:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(len(items), thread_name_prefix=f"realstack-{name}") as pool:
        return list(pool.map(fn, items))

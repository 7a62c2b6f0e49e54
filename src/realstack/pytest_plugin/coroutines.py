"""Un-awaited coroutines: a test that created one silently did not run that code.

CPython reports a never-awaited coroutine through ``warnings._warn_unawaited_coroutine`` when
the coroutine is finalised. Wrapping that one function observes exactly this event and
nothing else: the warning still goes wherever it would (a test's ``recwarn``, pytest's
capture, ``-W error``), no other warning is intercepted, and no garbage collection is forced
(a forced collection moves other objects' finalisers, such as "unclosed connection"
warnings, into whichever test runs it).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

seen: list[str] = []  # what was found un-awaited since the last collect()
_original: Callable[[Any], None] | None = None
# pytest's own record of the running test's warnings (its ``catch_warnings(record=True)``):
# a warning that reaches it was caught by nothing else. None: not known (``-p no:warnings``).
_outer: list[Any] | None = None


def _record() -> list[Any] | None:
    """The list the innermost ``catch_warnings(record=True)`` appends to, if one is active."""
    owner = getattr(getattr(warnings, "_showwarnmsg_impl", None), "__self__", None)
    return owner if isinstance(owner, list) else None


def note_test_start() -> None:
    """At a test's start (before its fixtures): which record is pytest's own."""
    global _outer  # noqa: PLW0603 - one per process, as the warnings state it reads
    _outer = _record()


def _observe(coro: Any) -> None:
    """Count the coroutine unless the test handled its warning: an inner recorder
    (``pytest.warns``, ``recwarn``) took it, or a filter (``filterwarnings("ignore")``)
    dropped it. Counted when it reaches pytest's own record, or raises (``-W error``)."""
    name = getattr(coro, "__qualname__", repr(coro))
    target = _record()
    before = len(target) if target is not None else 0
    try:
        if _original is not None:
            _original(coro)
    except BaseException:
        seen.append(name)
        raise
    if _outer is None or (target is _outer and len(_outer) > before):
        seen.append(name)


def install() -> None:
    global _original  # noqa: PLW0603 - one hook per process, like warnings itself
    hook = getattr(warnings, "_warn_unawaited_coroutine", None)
    if _original is None and hook is not None:
        _original = hook
        warnings._warn_unawaited_coroutine = _observe  # type: ignore[attr-defined]


def uninstall() -> None:
    global _original  # noqa: PLW0603
    if _original is not None:
        warnings._warn_unawaited_coroutine = _original  # type: ignore[attr-defined]
        _original = None


def collect() -> list[str]:
    """The coroutines found un-awaited since the last call."""
    found = list(seen)
    seen.clear()
    return found


def check(report: pytest.TestReport) -> None:
    """An un-awaited coroutine is a test that silently did not run its code: fail it.

    What setup saw is dropped (earlier code's leftovers are not this test's); what the call
    left fails a test that otherwise passed.
    """
    if report.when == "setup":
        collect()
    elif report.when == "call":
        never = collect()
        if never and report.passed:
            names = "; ".join(f"coroutine {name!r} was never awaited" for name in never)
            report.outcome = "failed"
            report.longrepr = f"un-awaited coroutine (its code never ran): {names}"

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

seen: list[str] = []  # what was found un-awaited since the last collect()
_original: Callable[[Any], None] | None = None


def _observe(coro: Any) -> None:
    seen.append(getattr(coro, "__qualname__", repr(coro)))
    if _original is not None:
        _original(coro)


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

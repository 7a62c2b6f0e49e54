"""Which tests a deployed env refuses, and why: a shared stack is probed and used through its
public endpoints, never reached into, restarted or written to destructively.

A refused test is neither run nor skipped: it is deselected and listed, with its reason, in
the summary (``--realstack-allow-destructive`` runs the destructive ones on purpose).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from realstack.model import Stack
from realstack.pytest_plugin._settings import Settings


def offered(stack: Stack) -> list[str]:
    """What a deployed env's tests may need: the services its env gives a URL for."""
    return [s.name for s in stack.services if s.external and stack.enabled(s)]


def reason(item: pytest.Item, needs: Sequence[str], stack: Stack, settings: Settings) -> str:
    """Why ``item`` (needing ``needs``) cannot run against the deployed ``stack`` ("" if it
    can)."""
    local = item.get_closest_marker("realstack_local")
    if local is not None:
        why = str(local.args[0]) if local.args else "marked realstack_local"
        return f"needs the local stack ({why})"
    if item.get_closest_marker("destructive") and not settings.allow_destructive:
        return "destructive (--realstack-allow-destructive runs it)"
    missing = [n for n in needs if not stack.service(n).external]
    if missing:
        return f"needs {', '.join(missing)}, which env {stack.env!r} does not offer"
    used = [f for f in getattr(item, "fixturenames", ()) if f in settings.local_fixtures]
    if used:
        return f"reaches into the stack through fixture {used[0]!r}"
    return ""

"""``services.status --check``: which rows keep a script's health check from passing."""

from __future__ import annotations

from realstack.status import ServiceStatus, State
from realstack.status_view import not_healthy


def row(
    name: str, state: State = "ours", health: str = "healthy", kind: str = "postgres"
) -> ServiceStatus:
    return ServiceStatus(name, kind, "native", 5432, state, health=health)


def test_a_stack_as_a_start_leaves_it_passes() -> None:
    """Ours and healthy, a deployed env's service healthy, a completed task: nothing to say."""
    rows = [
        row("db"),
        row("api", state="deployed"),
        row("migrate", state="down", health="completed 3m ago; up to date", kind="task"),
    ]
    assert not_healthy(rows) == []


def test_each_row_a_start_would_change_is_named_with_its_state_and_why() -> None:
    rows = [
        row("db", state="down", health="-"),
        row("cache", health="ConnectionRefusedError: [Errno 111]"),
        row("app", state="orphan", health="1 unrecorded process(es)"),
        row("other", state="foreign", health="answers, but realstack did not start it"),
        row("migrate", state="down", health="failed (exit 3) 1m ago", kind="task"),
    ]
    assert not_healthy(rows) == [
        "db (down: -)",
        "cache (ours: ConnectionRefusedError: [Errno 111])",
        "app (orphan: 1 unrecorded process(es))",
        "other (foreign: answers, but realstack did not start it)",
        "migrate (down: failed (exit 3) 1m ago)",
    ]


def test_a_service_of_a_profile_that_is_not_enabled_is_not_asked_for() -> None:
    assert not_healthy([row("ch", state="down", health="profile analytics not enabled")]) == []

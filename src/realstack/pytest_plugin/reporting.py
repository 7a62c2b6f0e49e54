"""What a strict run reports: failed skips, the I/O audit, log tails, and the summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from realstack.model import Stack
from realstack.providers import Logs
from realstack.pytest_plugin import audit as io_audit
from realstack.pytest_plugin import broken
from realstack.pytest_plugin._session import Session
from realstack.pytest_plugin.policy import unhealthy
from realstack.pytest_plugin.stackshare import ALONE_KEY

LOG_LINES_ON_FAILURE = 30
_CONNECTION_ERRORS = (
    "ConnectError",
    "ConnectionRefused",
    "OperationalError",
    "ConnectionError",
    "ConnectTimeout",
    "InvalidStatus",
    "ConnectionClosed",
)


def fail_skip(report: pytest.TestReport) -> None:
    report.outcome = "failed"
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.longrepr = (
        f"skipped in a strict suite ({reason}). Tests that need real services "
        "fail instead of skipping; --realstack-allow-skip opts out."
    )


def audit(report: pytest.TestReport, stack: Stack) -> None:
    ports = {svc.port for svc in stack.services if svc.port}  # a task has none
    if not io_audit.RECORDER.seen & ports:
        report.outcome = "failed"
        report.longrepr = (
            "no real service was contacted: this test opened no connection to "
            f"any endpoint of the stack ({', '.join(map(str, sorted(ports)))}). "
            "A test in a real-service suite that only talks to mocks proves "
            "nothing; mark it realstack_no_audit(reason) if that is intended."
        )


def attach_logs(
    report: pytest.TestReport, logs: Callable[[str], Logs], marks: dict[str, float]
) -> None:
    for name, mark in marks.items():
        lines = logs(name).tail(LOG_LINES_ON_FAILURE, since=mark)
        if lines:
            report.sections.append((f"realstack log: {name} (during this test)", "\n".join(lines)))


def classify(stack: Stack, report: pytest.TestReport, names: list[str]) -> tuple[str, str]:
    """("infra", why) when a service the test needs is down or unreachable, else ("test", "").

    Decided where the test ran (the services' state right after it), and carried on the
    report, which xdist ships to the controller with its extra attributes. A connection that
    failed in a test that took a service away itself (``realstack.outage``) is the test's own
    doing: retrying it (``--realstack-retry-infra``) would only take the service away again.
    """
    failures = unhealthy(stack, names)
    if failures:
        why = "; ".join(f"{n}: {e}" for n, e in failures.items())
        return "infra", why + broken.since(stack, report.nodeid)
    took_one_away = any(key == ALONE_KEY for key, _ in report.user_properties)
    if not took_one_away and any(m in str(report.longrepr) for m in _CONNECTION_ERRORS):
        return "infra", "a connection to a service failed during the test"
    return "test", ""


def mask_report(report: pytest.TestReport, mask: Callable[[str], str]) -> None:
    """Secrets out of a failed test's report: its text and its captured sections.

    pytest has no hook for a report's rendering, so the text is rewritten (as plain text) when
    it holds a secret, and left as it is otherwise.
    """
    text = str(report.longrepr)
    masked = mask(text)
    if masked != text:
        report.longrepr = masked
    report.sections = [(title, mask(content)) for title, content in report.sections]


def tally(state: Session, report: pytest.TestReport) -> None:
    """Sort strict reports where they are shown: here, or on the xdist controller.

    The worker that ran the test decided the kind (see ``classify``); the controller has no
    items of its own, so it learns it from the report.
    """
    kind = getattr(report, "realstack_kind", None)
    if kind is None:
        return
    state.reported = True
    if kind == "ok":
        return  # the common case: nothing to sort
    if kind == "rerun":
        return  # an attempt that was retried: the retry's reports say what the test came to
    if kind == "flaky":
        if all(nodeid != report.nodeid for nodeid, _ in state.flaky):
            state.flaky.append((report.nodeid, str(getattr(report, "realstack_why", ""))))
        return
    if any(nodeid == report.nodeid for nodeid, _ in state.infra):
        return  # e.g. a fixture's teardown failing after the call did: one line per test
    if kind == "infra":
        state.infra.append((report.nodeid, str(getattr(report, "realstack_why", ""))))
        if report.nodeid in state.failed:
            state.failed.remove(report.nodeid)
    elif kind == "test" and report.nodeid not in state.failed:
        state.failed.append(report.nodeid)
    elif kind == "skip" and report.nodeid not in state.skipped:
        state.skipped.append(report.nodeid)


def write_summary(tr: Any, exitstatus: int, state: Session) -> None:

    if tr.stats.get("passed") is None and tr.stats.get("failed") is None and exitstatus == 5:
        tr.write_sep("=", "realstack: no tests ran — that is a failure, not a pass", red=True)
    if state.refused:
        env = state.load_stack().env
        tr.write_sep("=", f"realstack: refused on deployed env {env!r} ({len(state.refused)})")
        tr.write_line("not run, not skipped, not passed: a shared stack is not reached into")
        for nodeid, why in state.refused:
            tr.write_line(f"  {nodeid}: {why}")
    if not state.reported:
        return
    tr.write_sep("=", "realstack summary")
    _write_verdicts(tr, state)
    reports = [
        r
        for key in ("passed", "failed")
        for r in tr.stats.get(key, [])
        if getattr(r, "when", "") == "call"
    ]
    if state.alone:
        tests = len(state.alone)
        tr.write_line(
            f"outages held the stack alone for {sum(state.alone.values()):.2f}s in {tests} "
            f"test{'s' if tests > 1 else ''} (no other test used it meanwhile)"
        )
    slowest = sorted(reports, key=lambda r: r.duration, reverse=True)[:5]
    if slowest:
        tr.write_line("slowest tests:")
        for r in slowest:
            tr.write_line(f"  {r.duration:7.3f}s {r.nodeid}")


def _write_verdicts(tr: Any, state: Session) -> None:
    """The strict tests that did not simply pass, by kind."""
    if state.infra:
        tr.write_line(
            f"infrastructure failures ({len(state.infra)}): service down, crashed or unreachable",
            red=True,
        )
        for nodeid, why in state.infra:
            tr.write_line(f"  {nodeid}: {why}")
    if state.flaky:
        allowed = state.settings.allow_flaky
        tr.write_line(
            "flaky: passed only on retry after an infrastructure failure "
            f"({len(state.flaky)}){', allowed (--realstack-allow-flaky)' if allowed else ''}",
            red=not allowed,
            yellow=allowed,
        )
        for nodeid, why in state.flaky:
            tr.write_line(f"  {nodeid}: {why}")
    if state.failed:
        tr.write_line(f"test failures ({len(state.failed)}):", red=True)
        for nodeid in state.failed:
            tr.write_line(f"  {nodeid}")
    if state.skipped:
        tr.write_line(
            f"skips in strict suites, counted as failures ({len(state.skipped)}):", red=True
        )
        for nodeid in state.skipped:
            tr.write_line(f"  {nodeid}")

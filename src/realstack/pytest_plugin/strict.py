"""Strict tests, where they run: log marks, the real-I/O audit, failed skips, log sections and
the infrastructure/test split.

Registered by :class:`~realstack.pytest_plugin.run.ProjectRun` only once collection shows
strict tests (marked, or under a directory named after a suite), so a run without them pays
for none of these per-test hooks; the socket audit is installed at the same moment.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from realstack.pytest_plugin import audit, broken, reporting
from realstack.pytest_plugin._session import Session

if TYPE_CHECKING:
    from realstack.pytest_plugin.retry import InfraRetry


class StrictSuite:
    """``tally``: sort the reports here too (a run that shows its own reports; an xdist
    worker's are sorted on the controller, by :class:`~realstack.pytest_plugin.run.Tally`).
    ``retry``: ``--realstack-retry-infra``'s judge of attempts (None: off, nothing to ask)."""

    def __init__(self, state: Session, tally: bool, retry: InfraRetry | None = None) -> None:
        self.state = state
        self.tally = tally
        self.retry = retry
        audit.install()

    def uninstall(self) -> None:
        audit.uninstall()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        state = self.state
        names = state.requires.get(item.nodeid)
        if names is None:
            return
        if state.share is not None:  # before its first fixture: see :mod:`.outages`
            state.share.begin(item)
        state.marks[item.nodeid] = {n: state.logs(n).mark() for n in names}
        audit.follow_psycopg()
        audit.RECORDER.reset()
        audit.RECORDER.active = True
        if state.share is not None:  # a local stack, where an earlier outage may not have ended
            broken.check(state.load_stack(), names)

    def pytest_runtest_logfinish(self) -> None:
        """After the test's last teardown (and its report): other tests' outages may run."""
        if self.state.share is not None:
            self.state.share.end()

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Generator[None, Any, Any]:
        """A session or module fixture's I/O belongs to no test: the audit pauses for it, so
        which test ran first cannot change the verdict."""
        pause = audit.RECORDER.active and fixturedef.scope != "function"
        if pause:
            audit.RECORDER.active = False
        try:
            return (yield)
        finally:
            if pause:
                audit.RECORDER.active = True

    def judge(self, nodeid: str, report: pytest.TestReport, names: list[str]) -> None:
        """A strict test's report: a skip fails, a pass without real I/O fails, a failure gets
        the services' logs and is sorted into infrastructure or test.

        Runs for every phase of every strict test, so it reads plain attributes (``outcome``,
        not the ``passed``/``failed`` properties) and marks only reports that say something.
        """
        state = self.state
        when, outcome = report.when, report.outcome
        if when == "setup":
            audit.follow_psycopg()  # its fixtures may have imported psycopg just now
        elif when == "teardown":
            audit.RECORDER.active = False
        kind, why = "ok", ""
        if outcome == "skipped":
            if not hasattr(report, "wasxfail") and not state.settings.allow_skip:
                reporting.fail_skip(report)
                kind = "skip"  # counted once, as a skip in a strict suite, not as a failure
        elif outcome == "passed" and when == "call" and nodeid not in state.no_audit:
            reporting.audit(report, state.load_stack())
        if report.outcome == "failed" and kind != "skip":
            reporting.attach_logs(report, state.logs, state.marks.get(nodeid, {}))
            kind, why = reporting.classify(state.load_stack(), report, names)
        if self.retry is not None:
            kind, why = self.retry.settle(report, names, kind, why)
        if kind == "ok" and outcome == "passed":
            if when == "call":  # the common case: one truth to carry, nothing to sort
                report.realstack_kind = kind  # type: ignore[attr-defined]
                state.reported = state.reported or self.tally
            return
        # extra attributes travel with the report: xdist serialises a report's __dict__
        report.realstack_kind = kind  # type: ignore[attr-defined]
        if why:
            report.realstack_why = why  # type: ignore[attr-defined]
        if self.tally:
            reporting.tally(state, report)

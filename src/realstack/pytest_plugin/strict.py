"""Strict tests, where they run: log marks, the real-I/O audit, failed skips, log sections and
the infrastructure/test split.

Registered by :class:`~realstack.pytest_plugin.run.ProjectRun` only once collection shows
strict tests (marked, or under a directory named after a suite), so a run without them pays
for none of these per-test hooks; the socket audit is installed at the same moment.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from realstack.pytest_plugin import audit, reporting
from realstack.pytest_plugin._session import Session


class StrictSuite:
    def __init__(self, state: Session) -> None:
        self.state = state
        audit.install()

    def uninstall(self) -> None:
        audit.uninstall()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        names = self.state.requires.get(item.nodeid)
        if names is None:
            return
        self.state.marks[item.nodeid] = {n: self.state.logs(n).mark() for n in names}
        audit.follow_psycopg()
        audit.RECORDER.reset()
        audit.RECORDER.active = True

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

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        if item.nodeid in self.state.requires:
            audit.follow_psycopg()  # its fixtures may have imported psycopg just now

    def judge(self, item: pytest.Item, report: pytest.TestReport, names: list[str]) -> None:
        """A strict test's report: a skip fails, a pass without real I/O fails, a failure gets
        the services' logs and is sorted into infrastructure or test."""
        state = self.state
        kind, why = "ok", ""
        if report.skipped and not hasattr(report, "wasxfail") and not state.settings.allow_skip:
            reporting.fail_skip(report)
            kind = "skip"  # counted once, as a skip in a strict suite, not also as a failure
        elif report.when == "call" and report.passed and item.nodeid not in state.no_audit:
            reporting.audit(report, state.load_stack())
        if report.failed and kind != "skip":
            reporting.attach_logs(report, state.logs, state.marks.get(item.nodeid, {}))
            kind, why = reporting.classify(state.load_stack(), report, names)
        # extra attributes travel with the report: xdist serialises a report's __dict__
        report.__dict__.update(realstack_kind=kind, realstack_why=why)
        if report.when == "teardown":
            audit.RECORDER.active = False

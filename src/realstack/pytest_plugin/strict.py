"""Strict suites, where tests run: the health gate, the real-I/O audit, failed skips, log
sections, the infrastructure/test split, masked secrets, and un-awaited coroutines.

Registered only in a project with a realstack manifest; the strict parts act only on the
tests that are strict (marked, or under a directory named after a suite), and the socket
audit is installed only when the run has such tests.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from realstack.pytest_plugin import audit, coroutines, reporting
from realstack.pytest_plugin._session import Session
from realstack.pytest_plugin.lifecycle import StackOwner
from realstack.pytest_plugin.policy import down_message, is_strict, required_services, unhealthy

_DOWN_KEY = "realstack_down"  # xdist workeroutput: why a worker stopped before its tests


class StrictSuite:
    def __init__(self, state: Session, owner: StackOwner | None, xdist_worker: bool) -> None:
        self.state = state
        self.owner = owner
        self.xdist_worker = xdist_worker

    # ------------------------------------------------------------------ collection

    def _register(self, items: list[pytest.Item]) -> None:
        """Note which of the items that will run are strict, and the services each needs."""
        state = self.state
        rootpath = state.config.rootpath
        for item in items:
            if is_strict(item, state.settings.suites, rootpath):
                state.requires[item.nodeid] = required_services(item, state.settings.requires)
        if not state.active:
            return
        stack = state.load_stack()
        for nodeid, names in state.requires.items():
            unknown = [n for n in names if n not in stack.names]
            if unknown:
                raise pytest.UsageError(
                    f"{nodeid}: requires unknown service(s) {unknown}; "
                    f"the manifest has {', '.join(stack.names)}"
                )
            if not names:  # what a plain `services.start` brings up (active profiles)
                state.requires[nodeid] = [s.name for s in stack.services if stack.enabled(s)]

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Strict suites need their services healthy before the first test runs.

        ``session.items`` is final here (``-k``/``-m`` have deselected what will not run).
        ``tryfirst``: an xdist worker must stop before it hands its collection to the
        controller, or the controller schedules tests on a worker that is already gone.
        """
        state = self.state
        self._register(session.items)
        if not state.active or session.config.option.collectonly:
            return
        audit.install()
        if self.owner is not None:
            self.owner.start(state.needed())
        stack = state.load_stack()
        failures = unhealthy(stack, state.needed())
        if failures:
            message = state.mask(down_message(stack, failures, state.logs))
            if self.xdist_worker:
                session.config.workeroutput[_DOWN_KEY] = message  # type: ignore[attr-defined]
            pytest.exit(message, returncode=pytest.ExitCode.TESTS_FAILED)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """xdist controller: a worker stopped on unhealthy services; stop the same way."""
        message = getattr(node, "workeroutput", {}).get(_DOWN_KEY)
        if message:
            pytest.exit(message, returncode=pytest.ExitCode.TESTS_FAILED)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        """The env and its endpoints as the manifest names them, secrets masked (no process
        or engine is asked: this runs in every run of the project)."""
        from realstack.envfile import contract  # noqa: PLC0415

        state = self.state
        stack = state.load_stack()
        lines = [f"realstack: env {stack.env} ({stack.state_dir})"]
        return lines + [f"  {k}={state.mask(v)}" for k, v in contract(stack).items()]

    # ------------------------------------------------------------------ per test

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

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        """An un-awaited coroutine is a test that silently did not run its code: fail it."""
        if item.nodeid in self.state.requires:
            audit.follow_psycopg()  # its fixtures may have imported psycopg just now
        if not self.state.settings.coroutines:
            return (yield)
        coroutines.collect()  # whatever earlier code left behind is not this test's
        result = yield
        never = coroutines.collect()
        if never:
            names = "; ".join(f"coroutine {name!r} was never awaited" for name in never)
            pytest.fail(f"un-awaited coroutine (its code never ran): {names}", pytrace=False)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        state = self.state
        names = state.requires.get(item.nodeid)
        if names is not None:
            self._strict(item, report, names)
        if report.failed:
            reporting.mask_report(report, state.mask)
        return report

    def _strict(self, item: pytest.Item, report: pytest.TestReport, names: list[str]) -> None:
        state = self.state
        stack = state.load_stack()
        kind, why = "ok", ""
        if report.skipped and not hasattr(report, "wasxfail") and not state.settings.allow_skip:
            reporting.fail_skip(report)
            kind = "skip"  # counted once, as a skip in a strict suite, not also as a failure
        elif (
            report.when == "call"
            and report.passed
            and not item.get_closest_marker("realstack_no_audit")
        ):
            reporting.audit(report, stack)
        if report.failed and kind != "skip":
            reporting.attach_logs(report, state.logs, state.marks.get(item.nodeid, {}))
            kind, why = reporting.classify(stack, report, names)
        # extra attributes travel with the report: xdist serialises a report's __dict__
        report.__dict__.update(realstack_kind=kind, realstack_why=why)
        if report.when == "teardown":
            audit.RECORDER.active = False

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        reporting.tally(self.state, report)

    def pytest_terminal_summary(
        self, terminalreporter: Any, exitstatus: int, config: pytest.Config
    ) -> None:
        reporting.write_summary(terminalreporter, exitstatus, self.state)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        audit.uninstall()
        coroutines.uninstall()

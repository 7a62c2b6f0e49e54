"""A run of a project that has a realstack manifest: what every such run gets, strict or not.

Finds the strict tests once collection is final and, only when there are some, registers
:class:`~realstack.pytest_plugin.strict.StrictSuite` for them and gates the session on their
services; masks the stack's secrets in failure reports; fails a test that leaves a coroutine
un-awaited; sorts and summarises strict reports (also on an xdist controller, which runs no
tests). One report hook serves both kinds of test: a run without strict tests pays for a
single plain hook per phase.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from realstack.model import Stack
from realstack.pytest_plugin import coroutines, refusals, reporting
from realstack.pytest_plugin._session import Session
from realstack.pytest_plugin.lifecycle import StackOwner
from realstack.pytest_plugin.policy import Strictness, down_message, unhealthy, with_their_tasks
from realstack.pytest_plugin.stackshare import ALONE_KEY, StackShare
from realstack.pytest_plugin.strict import StrictSuite

if TYPE_CHECKING:
    from realstack.pytest_plugin.retry import InfraRetry

_DOWN_KEY = "realstack_down"  # xdist workeroutput: why a worker stopped before its tests
_REFUSED_KEY = "realstack_refused"  # xdist workeroutput: what a deployed env refused
STRICT_PLUGIN = "realstack-strict-suite"
TALLY_PLUGIN = "realstack-tally"


class ProjectRun:
    def __init__(
        self,
        state: Session,
        owner: StackOwner | None,
        xdist_worker: bool,
        retry: InfraRetry | None = None,
    ) -> None:
        self.state = state
        self.owner = owner
        self.xdist_worker = xdist_worker
        self.retry = retry
        self.strict: StrictSuite | None = None
        self.coroutines = state.settings.coroutines
        self.module_skips = 0  # strict modules that skipped themselves at import

    # ------------------------------------------------------------------ collection

    def _register(self, session: pytest.Session) -> None:
        """Note which of the items that will run are strict, and the services each needs; on
        a deployed env, take out (and list) what it refuses."""
        state = self.state
        strictness = Strictness(state.settings.suites, state.settings.requires)
        for item in session.items:
            found = strictness.of(item)
            if found is not None:
                nodeid = item.nodeid
                state.requires[nodeid], no_audit = found
                if no_audit:  # asked once, not per report
                    state.no_audit.add(nodeid)
        stack = state.load_stack()
        known = set(stack.names)
        everything: list[str] | None = None
        for nodeid, names in state.requires.items():
            unknown = [n for n in names if n not in known]
            if unknown:
                raise pytest.UsageError(
                    f"{nodeid}: requires unknown service(s) {unknown}; "
                    f"the manifest has {', '.join(stack.names)}"
                )
            if not names:  # what a plain `services.start` keeps running (active profiles)
                if everything is None:
                    everything = (
                        refusals.offered(stack)
                        if stack.deployed
                        else [s.name for s in stack.services if stack.enabled(s)]  # tasks too
                    )
                state.requires[nodeid] = everything
        if stack.deployed:
            self._refuse(session, stack)
        else:
            with_their_tasks(stack, state.requires)

    def _refuse(self, session: pytest.Session, stack: Stack) -> None:
        state = self.state
        kept, refused = [], []
        for item in session.items:
            why = refusals.reason(item, state.requires.get(item.nodeid, []), stack, state.settings)
            if why:
                refused.append(item)
                state.refused.append((item.nodeid, why))
                state.requires.pop(item.nodeid, None)
            else:
                kept.append(item)
        if refused:
            session.items[:] = kept
            session.config.hook.pytest_deselected(items=refused)
            if self.xdist_worker:
                session.config.workeroutput[_REFUSED_KEY] = state.refused  # type: ignore[attr-defined]

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Strict suites need their services healthy before the first test runs.

        ``session.items`` is final here (``-k``/``-m`` have deselected what will not run).
        ``tryfirst``: an xdist worker must stop before it hands its collection to the
        controller, or the controller schedules tests on a worker that is already gone.
        """
        state = self.state
        self._register(session)
        if not state.active or session.config.option.collectonly:
            return
        # a worker's reports are sorted where they are shown (the controller's Tally); a
        # plain run sorts them as it judges them
        self.strict = StrictSuite(state, tally=not self.xdist_worker, retry=self.retry)
        session.config.pluginmanager.register(self.strict, STRICT_PLUGIN)
        if not state.load_stack().deployed:
            terminal = session.config.pluginmanager.get_plugin("terminalreporter")
            state.share = StackShare(state.load_stack().state_dir, terminal=terminal)
        failures = self._preflight()
        if failures:
            stack = state.load_stack()
            message = state.mask(down_message(stack, failures, state.logs))
            if self.xdist_worker:
                session.config.workeroutput[_DOWN_KEY] = message  # type: ignore[attr-defined]
            pytest.exit(message, returncode=pytest.ExitCode.TESTS_FAILED)

    def _preflight(self) -> dict[str, str]:
        """Start what is missing (``--realstack-start``) and ask the services, while no other
        run's test stops one (an outage there is waited for, not reported as a failure)."""
        state = self.state
        share = state.share
        try:
            if share is not None:
                share.begin()
            if self.owner is not None:
                self.owner.start(state.needed())
            return unhealthy(state.load_stack(), state.needed())
        except pytest.fail.Exception as exc:  # the stack stayed held past the deadline
            pytest.exit(str(exc), returncode=pytest.ExitCode.TESTS_FAILED)
        finally:
            if share is not None:
                share.end()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """xdist controller: a worker stopped on unhealthy services; stop the same way. What
        the workers refused is listed once (each worker refuses the same tests)."""
        output = getattr(node, "workeroutput", {})
        for nodeid, why in output.get(_REFUSED_KEY, []):
            if (nodeid, why) not in self.state.refused:
                self.state.refused.append((nodeid, why))
        message = output.get(_DOWN_KEY)
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

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A strict suite's module (or conftest) that skips itself at import
        (``pytest.importorskip``, ``skip(allow_module_level=True)``) ran none of its tests:
        counted as a skip in a strict suite, and the run fails (see ``pytest_sessionfinish``).
        Only a directory can say a module is strict here: its markers were never read. An
        xdist controller hears of it from the workers, who collect."""
        if report.outcome != "skipped" or self.xdist_worker or self.state.settings.allow_skip:
            return
        parts = report.nodeid.partition("::")[0].split("/")
        if not any(part in self.state.settings.suites for part in parts):
            return
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        entry = f"{report.nodeid} (skipped at import: {str(reason).removeprefix('Skipped: ')})"
        if entry not in self.state.skipped:
            self.state.skipped.append(entry)
            self.module_skips += 1
            self.state.reported = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """A run whose tests all passed while a strict module skipped itself is a failure."""
        if self.module_skips and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    # ------------------------------------------------------------------ per test

    def pytest_runtest_logstart(self) -> None:
        """Inside pytest's per-test warning capture, before the test's fixtures: see
        :func:`coroutines.note_test_start` (a warning the test handled does not fail it)."""
        if self.coroutines:
            coroutines.note_test_start()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Every phase of every test passes here, before anything shows or ships the report
        (the terminal, junitxml, an xdist worker's channel to its controller: ``tryfirst``).

        A plain hook, not a ``makereport`` wrapper: it costs one call where a wrapper costs a
        generator per phase, and a run without strict tests pays two truth tests."""
        if coroutines.seen and self.coroutines:
            coroutines.check(report)
        if self.strict is not None:
            nodeid = report.nodeid
            names = self.state.requires.get(nodeid)
            if names is not None:
                self.strict.judge(nodeid, report, names)
        if report.outcome == "failed":
            reporting.mask_report(report, self.state.mask)
        if report.user_properties and report.when == "teardown":  # every test's, in a worker
            alone = [
                v for k, v in report.user_properties if k == ALONE_KEY and isinstance(v, float)
            ]
            if alone:  # the last attempt's report carries every attempt's: kept, not added
                self.state.alone[report.nodeid] = sum(alone)

    def pytest_terminal_summary(
        self, terminalreporter: Any, exitstatus: int, config: pytest.Config
    ) -> None:
        reporting.write_summary(terminalreporter, exitstatus, self.state)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.strict is not None:
            self.strict.uninstall()
        coroutines.uninstall()


class Tally:
    """Sorts strict reports for the summary on an xdist controller, which runs no tests and
    learns their kinds from the workers' reports (a plain run sorts them as it judges them)."""

    def __init__(self, state: Session) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        reporting.tally(self.state, report)


def register_tally(config: pytest.Config, state: Session) -> None:
    if not config.pluginmanager.has_plugin(TALLY_PLUGIN):
        config.pluginmanager.register(Tally(state), TALLY_PLUGIN)

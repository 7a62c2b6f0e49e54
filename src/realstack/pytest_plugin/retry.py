"""``--realstack-retry-infra``: a strict test whose attempt ended in an infrastructure failure
runs once more, after its services passed their probes again; a pass on that retry is *flaky*.

The retry is decided where the report is classified: :meth:`StrictSuite.judge
<realstack.pytest_plugin.strict.StrictSuite.judge>`, in the ``tryfirst`` ``logreport`` hook,
before the terminal, junitxml, ``-x`` or xdist's channel see the report. Each phase is logged as
it happens (``runtestprotocol(log=True)``), so the I/O audit still judges a call before its
teardown runs. On a first attempt, an infrastructure failure in setup or call waits (with a
deadline, polling the probes) for the services the test needs: back, the report becomes a
``rerun`` (shown ``R``, fails nothing) and the test runs once more; not back in time, the
failure stands, saying so. A teardown-only failure is not retried: the call's pass was already
reported. A retry that passes fails (the report becomes a failure naming the first attempt's
cause, so every consumer of reports and the exit status agree) unless
``--realstack-allow-flaky``; either way the summary lists it.

Why not pytest-rerunfailures (evaluated, 16.x): it decides a rerun before any ``logreport``
hook, from the report's own outcome and a marker ``condition`` that cannot see the report, so
our classification (the probes right after the phase) cannot drive it; between attempts it can
only sleep (``reruns_delay``), where a retry must wait for probes with a deadline; and once
installed it adds a ``makereport`` wrapper and protocol/teardown hooks to every test of every
run, the per-test cost this plugin keeps out of runs that do not ask for retries. So the
protocol below is ours, modelled on its ``pytest_runtest_protocol``: attempts framed by
``logstart``/``logfinish``, failed fixtures' cached errors and the test's class instance
dropped between attempts. It is registered only when the option is on.
"""

from __future__ import annotations

from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from realstack.pytest_plugin import reporting
from realstack.pytest_plugin._session import Session
from realstack.pytest_plugin.policy import unhealthy
from realstack.waiting import WaitTimeout, wait_until

PLUGIN = "realstack-infra-retry"


class RerunStatus:
    """How a ``rerun`` report is shown and counted (also on an xdist controller)."""

    def pytest_report_teststatus(self, report: pytest.TestReport) -> Any:
        outcome: str = report.outcome  # "rerun" is ours: pytest's type does not know it
        if outcome == "rerun":
            return "rerun", "R", ("RERUN", {"yellow": True})
        return None


class InfraRetry(RerunStatus):
    """Runs strict tests (at most twice each) and settles what their attempts came to."""

    def __init__(self, state: Session) -> None:
        self.state = state
        self.pending: str | None = None  # this attempt failed on infrastructure: retry (why)
        self.first: str | None = None  # during a retry: why the first attempt failed

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        if item.nodeid not in self.state.requires:
            return None  # not strict: pytest's own protocol
        self.pending = self.first = None
        _attempt(item, nextitem)
        if self.pending is not None:
            self.first, self.pending = self.pending, None
            _forget_failed_attempt(item)
            try:
                _attempt(item, nextitem)
            finally:
                self.first = None
        return True

    def settle(
        self, report: pytest.TestReport, names: list[str], kind: str, why: str
    ) -> tuple[str, str]:
        """The kind of a strict report once retries are accounted for: ``rerun`` (this
        attempt is retried), ``flaky`` (passed on the retry), or what ``judge`` found."""
        when = report.when
        first = self.first
        if first is not None:  # the retry
            if kind == "ok" and when == "call" and report.outcome == "passed":
                return self._flaky(report, first)
            if kind == "infra":
                return kind, f"{why} (on its retry; the first attempt: {first})"
            return kind, why
        if kind != "infra" or when == "teardown" or self.pending is not None:
            return kind, why
        error = self._services_back(names)
        if error is not None:
            return kind, f"{why}; not retried: {error}"
        reporting.mask_report(report, self.state.mask)  # shown as a rerun: never masked later
        report.outcome = "rerun"  # type: ignore[assignment]
        self.pending = why
        return "rerun", why

    def _flaky(self, report: pytest.TestReport, first: str) -> tuple[str, str]:
        why = f"the first attempt failed: {first}"
        if not self.state.settings.allow_flaky:
            report.outcome = "failed"
            report.longrepr = (
                f"flaky: passed only on its retry; {why}. A pass that needed a retry is not "
                "a pass; --realstack-allow-flaky lets it pass (it is still listed)."
            )
        return "flaky", why

    def _services_back(self, names: list[str]) -> str | None:
        """None once every service in ``names`` passes its probe, else why not (deadline)."""
        stack = self.state.load_stack()
        timeout = self.state.settings.retry_wait

        def check() -> str | None:
            return "; ".join(f"{n}: {e}" for n, e in unhealthy(stack, names).items()) or None

        try:
            wait_until(check, timeout)
        except WaitTimeout as exc:
            return f"its services did not pass their probes within {timeout:g}s ({exc.last_error})"
        return None


def _attempt(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    runtestprotocol(item, nextitem=nextitem, log=True)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)


def _forget_failed_attempt(item: pytest.Item) -> None:
    """What a failed attempt leaves cached, dropped as pytest-rerunfailures does: a failed
    fixture's error (a wider-scoped one would re-raise it, not run again; pytest 9 wants its
    finalizers empty before it runs again) and the test class instance."""
    info = getattr(item, "_fixtureinfo", None)
    for defs in getattr(info, "name2fixturedefs", {}).values():
        for fixturedef in defs:
            cached = getattr(fixturedef, "cached_result", None)
            if cached is not None and cached[2] is not None:
                fixturedef.cached_result = None
                getattr(fixturedef, "_finalizers", []).clear()
    if getattr(item, "_instance", None) is not None:
        del item._instance  # type: ignore[attr-defined]
        item._obj = None  # type: ignore[attr-defined]


def register(config: pytest.Config, state: Session, runs_tests: bool) -> InfraRetry | None:
    """The retry machinery, only when asked for: a run that runs tests gets the protocol; an
    xdist controller only shows the workers' reruns."""
    if config.option.usepdb:
        raise pytest.UsageError("--realstack-retry-infra cannot be combined with --pdb")
    if not runs_tests:
        config.pluginmanager.register(RerunStatus(), PLUGIN)
        return None
    retry = InfraRetry(state)
    config.pluginmanager.register(retry, PLUGIN)
    return retry

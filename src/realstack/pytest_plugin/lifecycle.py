"""The stack owner (``--realstack-start``): the controller under xdist, else the one process.

It starts what is missing once, before any test runs, and stops at the end only what it
started (Ctrl-C included, and SIGTERM or SIGHUP: a CI job cancelled, a terminal closed): a
stack that was running before the session survives it.
"""

from __future__ import annotations

import contextlib

import pytest

from realstack.interrupts import ending_signals_interrupt
from realstack.pytest_plugin._session import Session


class StackOwner:
    def __init__(self, state: Session, xdist_controller: bool) -> None:
        self.state = state
        self.xdist_controller = xdist_controller
        self._done = False
        # SIGTERM/SIGHUP end the session as Ctrl-C does, so pytest still reaches
        # ``pytest_sessionfinish`` and the stop; pytest itself lets them kill the process
        self._signals = contextlib.ExitStack()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Under xdist the controller starts the stack once, before any worker collects."""
        if self.xdist_controller:
            self.start(list(self.state.settings.requires) or None)

    def start(self, only: list[str] | None) -> None:
        if self._done:
            return
        self._done = True
        self._signals.enter_context(ending_signals_interrupt())
        from realstack import orchestrator  # noqa: PLC0415 - only runs that start pay for it

        report = orchestrator.start(self.state.load_stack(), only=only)
        if not report.ok:
            errors = "\n".join(self.state.mask(str(e)) for e in report.errors)
            pytest.exit(
                f"realstack: --realstack-start failed:\n{errors}",
                returncode=pytest.ExitCode.TESTS_FAILED,
            )
        self.state.started = [r.name for r in report.results if r.action == "started"]
        self.state.reload()  # ports may be leased elsewhere now; what runs where changed

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Stop what this session started (also after Ctrl-C); never what ran before.

        ``trylast``: after Ctrl-C the interrupted test's fixtures are torn down by pytest's own
        ``pytest_sessionfinish`` (and xdist's shuts its workers down there); both need the
        services still up, or their clean-up fails on a connection refused.
        """
        if self.state.started:
            from realstack import orchestrator  # noqa: PLC0415

            orchestrator.stop(self.state.load_stack(), only=self.state.started)
            self.state.started = []

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._signals.close()

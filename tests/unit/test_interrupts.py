"""Signals during a start: SIGTERM and SIGHUP end it like Ctrl-C, a rollback is not cut short,
and what is said afterwards is what happened."""

from __future__ import annotations

import signal

import pytest

from realstack.errors import StopFailed
from realstack.interrupts import Interrupted, StartInterrupted, ending_signals_interrupt, held_off
from realstack.results import Action, ServiceResult


def test_sigterm_and_sighup_raise_as_ctrl_c_does_and_the_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        with pytest.raises(Interrupted) as info, ending_signals_interrupt():
            signal.raise_signal(signum)
        assert isinstance(info.value, KeyboardInterrupt)
        assert info.value.signum == signum
    assert signal.getsignal(signal.SIGTERM) == before


def test_signals_during_a_held_off_block_are_noted_not_raised() -> None:
    with held_off() as heard:
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
    assert heard == [signal.SIGINT, signal.SIGINT]
    with pytest.raises(KeyboardInterrupt):  # Python's own handler is back
        signal.raise_signal(signal.SIGINT)


def test_an_interrupted_start_says_what_its_rollback_could_not_stop() -> None:
    stopped = ServiceResult("db", Action.STOPPED)
    failed = ServiceResult(
        "app", Action.FAILED, error=StopFailed("survived", provider="native", service="app")
    )
    assert StartInterrupted(signal.SIGINT, (stopped,)).outcome() == (
        "what this run started was stopped"
    )
    outcome = StartInterrupted(signal.SIGTERM, (stopped, failed)).outcome()
    assert outcome == "still running: app (stop it: `invoke services.stop`)"


def test_a_signal_the_caller_ignores_stays_ignored() -> None:
    """``nohup invoke services.start``: SIGHUP was set to be ignored, and is not made fatal."""
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with ending_signals_interrupt():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            signal.raise_signal(signal.SIGHUP)  # ignored: nothing raised
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)

"""The one poll loop, driven by a fake clock: no real sleeping anywhere in these tests."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import pytest

from realstack.testing import FakeClock
from realstack.waiting import WaitTimeout, wait_until

START = 1000.0


class Failing:
    """A check that fails ``times`` times (``attempt N``), then passes; counts its calls."""

    def __init__(self, times: float, cost: float = 0.0, clock: FakeClock | None = None) -> None:
        self.times = times
        self.cost = cost
        self.clock = clock
        self.calls = 0

    def __call__(self) -> str | None:
        self.calls += 1
        if self.clock is not None:
            self.clock.now += self.cost
        return f"attempt {self.calls}" if self.calls <= self.times else None


@pytest.fixture
def fake() -> Iterator[FakeClock]:
    yield FakeClock()


def test_a_passing_check_returns_at_once_without_sleeping(fake: FakeClock) -> None:
    """Ready on the first call: elapsed 0, one call, no sleep."""
    check = Failing(0)
    assert wait_until(check, 5, clock=fake.clock) == 0
    assert (check.calls, fake.sleeps) == (1, [])


def test_interval_is_5ms_for_the_first_50ms(fake: FakeClock) -> None:
    """A local server is up within tens of milliseconds: it is asked every 5 ms meanwhile."""
    wait_until(Failing(10), 5, clock=fake.clock)
    assert fake.sleeps == pytest.approx([0.005] * 10)


def test_then_the_interval_is_a_tenth_of_the_time_waited(fake: FakeClock) -> None:
    """A wait overshoots readiness by up to one interval: past 50 ms that is at most a tenth
    of the wait (0.4 s → within 44 ms), however long the service took."""
    wait_until(Failing(60), 60, clock=fake.clock)
    waited = 0.0
    for sleep in fake.sleeps:
        assert sleep == pytest.approx(min(max(0.005, waited / 10), 0.25))
        waited += sleep
    assert fake.sleeps[10:13] == pytest.approx([0.005, 0.0055, 0.00605])  # at 50, 55, 60.5 ms


def test_interval_is_capped_at_max_interval(fake: FakeClock) -> None:
    """The interval stops growing at max_interval so a slow service is not waited past."""
    wait_until(Failing(80), 60, clock=fake.clock, max_interval=0.25)
    assert max(fake.sleeps) == pytest.approx(0.25)
    assert fake.sleeps[-5:] == pytest.approx([0.25] * 5)
    assert all(b >= a for a, b in pairwise(fake.sleeps))


def test_interval_settings_are_honoured(fake: FakeClock) -> None:
    """initial, fraction and max_interval shape the schedule."""
    wait_until(Failing(5), 5, clock=fake.clock, initial=0.1, fraction=0.5, max_interval=0.2)
    assert fake.sleeps == pytest.approx([0.1, 0.1, 0.1, 0.15, 0.2])


def test_returns_the_elapsed_time(fake: FakeClock) -> None:
    """The result is the time from the first call to success, as the clock measured it."""
    elapsed = wait_until(Failing(6), 5, clock=fake.clock)
    assert elapsed == pytest.approx(sum(fake.sleeps))
    assert elapsed == pytest.approx(fake.elapsed)


def test_time_spent_inside_the_check_counts(fake: FakeClock) -> None:
    """A slow probe attempt uses up the timeout too."""
    elapsed = wait_until(Failing(2, cost=0.5, clock=fake), 5, clock=fake.clock)
    assert elapsed == pytest.approx(3 * 0.5 + 0.05 + 0.105)  # a tenth of 0.5 s, of 1.05 s


def test_timeout_raises_with_the_last_error_and_elapsed(fake: FakeClock) -> None:
    """WaitTimeout carries the last check's message, the elapsed time and the timeout."""
    check = Failing(float("inf"))
    with pytest.raises(WaitTimeout) as info:
        wait_until(check, 2.0, clock=fake.clock)
    err = info.value
    assert err.last_error == f"attempt {check.calls}"
    assert err.elapsed == pytest.approx(2.0)
    assert err.timeout == 2.0
    assert f"attempt {check.calls}" in str(err)
    assert "2.00s" in str(err)


def test_never_sleeps_past_the_deadline(fake: FakeClock) -> None:
    """The last sleep is cut short at the deadline, and the check gets one final call there."""
    check = Failing(float("inf"))
    with pytest.raises(WaitTimeout):
        wait_until(check, 0.03, clock=fake.clock, initial=0.02)
    assert fake.sleeps == pytest.approx([0.02, 0.01])
    assert fake.elapsed == pytest.approx(0.03)
    assert check.calls == 3


def test_total_sleep_never_exceeds_the_timeout(fake: FakeClock) -> None:
    """Across a long wait the loop ends at the deadline, not an interval after it."""
    with pytest.raises(WaitTimeout) as info:
        wait_until(Failing(float("inf")), 7.3, clock=fake.clock)
    assert sum(fake.sleeps) <= 7.3 + 1e-9
    assert info.value.elapsed == pytest.approx(7.3)


def test_a_slow_check_past_the_deadline_times_out_without_sleeping(fake: FakeClock) -> None:
    """If one attempt overruns the deadline, the wait ends right after it."""
    with pytest.raises(WaitTimeout) as info:
        wait_until(Failing(float("inf"), cost=3.0, clock=fake), 2.0, clock=fake.clock)
    assert fake.sleeps == []
    assert info.value.elapsed == pytest.approx(3.0)


def test_zero_timeout_checks_exactly_once(fake: FakeClock) -> None:
    """timeout=0 means: is it ready right now?"""
    check = Failing(float("inf"))
    with pytest.raises(WaitTimeout):
        wait_until(check, 0, clock=fake.clock)
    assert (check.calls, fake.sleeps) == (1, [])


def test_on_tick_reports_progress_about_every_tick_every_seconds(fake: FakeClock) -> None:
    """Progress callbacks come roughly once per tick_every with the last error."""
    ticks: list[tuple[float, str]] = []
    wait_until(
        lambda: None if fake.elapsed >= 5.5 else f"down at {fake.elapsed:.2f}",
        60,
        clock=fake.clock,
        max_interval=0.25,
        on_tick=lambda elapsed, error: ticks.append((elapsed, error)),
        tick_every=1.0,
    )
    assert len(ticks) == 5
    times = [t for t, _ in ticks]
    assert 1.0 <= times[0] < 1.0 + 0.25 + 1e-9
    for earlier, later in pairwise(times):
        assert 1.0 <= later - earlier < 1.0 + 0.25 + 1e-9
    assert all(error == f"down at {elapsed:.2f}" for elapsed, error in ticks)


def test_no_tick_before_tick_every(fake: FakeClock) -> None:
    """A wait shorter than tick_every prints no progress."""
    ticks: list[float] = []
    wait_until(Failing(5), 5, clock=fake.clock, on_tick=lambda e, _: ticks.append(e))
    assert ticks == []


def test_an_exception_from_the_check_propagates_at_once(fake: FakeClock) -> None:
    """A check raises to abort (e.g. the process exited): no more calls, no more sleeping."""
    calls = 0

    def check() -> str | None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("process exited with code 1")
        return "not yet"

    with pytest.raises(RuntimeError, match="exited"):
        wait_until(check, 5, clock=fake.clock)
    assert calls == 3
    assert len(fake.sleeps) == 2

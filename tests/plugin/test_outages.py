"""``realstack.outage(name)``: a test stops a service of the shared stack, and no other test, in
any xdist worker, meets the outage; before and after its window the test shares the stack.

The inner run really stops Redis (through realstack) while the other worker is busy reading
it. Every test notes when it used Redis, on the machine's monotonic clock, so the outer test
reads the order of events across processes; the outage waits until the other worker has read
at least once, so the two really ran at the same time.
"""

from __future__ import annotations

import json
from typing import Any

from plugin.conftest import Inner, bring_up, states

READERS = 60
TESTS = """
    import json
    import os
    import time
    from pathlib import Path

    import pytest
    import redis
    from realstack.waiting import wait_until

    EVENTS = Path({events!r})


    def note(what, **fields):
        with EVENTS.open("a") as out:
            out.write(json.dumps({{"what": what, "t": time.monotonic(), "pid": os.getpid(),
                                   **fields}}) + "\\n")


    def others_read():
        lines = EVENTS.read_text().splitlines() if EVENTS.exists() else []
        seen = [json.loads(line) for line in lines]
        if any(e["what"] == "read-end" and e["pid"] != os.getpid() for e in seen):
            return None
        return "the other worker has not read yet"


    def test_redis_goes_away_and_comes_back(realstack, service_urls):
        wait_until(others_read, 60)
        with realstack.outage("redis"):
            note("down-begin")
            client = redis.Redis.from_url(service_urls["REDIS_URL"], socket_connect_timeout=2)
            with pytest.raises(redis.ConnectionError):
                client.ping()
            note("down-end")
        assert redis.Redis.from_url(service_urls["REDIS_URL"]).ping()


    @pytest.mark.parametrize("n", range({readers}))
    def test_reads_redis(redis_client, n):
        note("read-begin", n=n)
        redis_client.set("n", n)
        assert redis_client.get("n") == str(n)
        note("read-end", n=n)
"""


def test_an_outage_in_one_worker_is_met_by_no_test_of_the_other(inner: Inner) -> None:
    events = inner.path / "events.jsonl"
    inner.write("e2e/test_outage.py", TESTS.format(events=str(events), readers=READERS))
    bring_up(inner.project)

    result = inner.run("-n", "2")

    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=READERS + 1)
    result.stdout.fnmatch_lines(["*outages held the stack alone for *s in 1 test*"])
    seen = [json.loads(line) for line in events.read_text().splitlines()]
    [begin] = [e["t"] for e in seen if e["what"] == "down-begin"]
    [end] = [e["t"] for e in seen if e["what"] == "down-end"]
    [outage_pid] = {e["pid"] for e in seen if e["what"] == "down-begin"}
    reads = _intervals(seen)
    met = [(b, e) for b, e, _ in reads if b < end and e > begin]
    assert not met, f"reads during the outage [{begin}, {end}]: {met}"
    other = [(b, e) for b, e, pid in reads if pid != outage_pid]
    assert any(e < begin for _, e in other), "the other worker read nothing before the outage"
    assert any(b > end for b, _ in other), "the other worker read nothing after the outage"
    assert states(inner.project) == {"postgres": "ours", "redis": "ours"}


def _intervals(seen: list[dict[str, Any]]) -> list[tuple[float, float, int]]:
    """(begin, end, pid) of every read, on the machine's monotonic clock."""
    begins = {(e["pid"], e["n"]): e["t"] for e in seen if e["what"] == "read-begin"}
    return [(begins[(e["pid"], e["n"])], e["t"], e["pid"]) for e in seen if e["what"] == "read-end"]


def test_an_outage_of_a_service_this_checkout_does_not_run_fails_the_test(inner: Inner) -> None:
    inner.write(
        "e2e/test_outage.py",
        """
        import pytest

        @pytest.mark.requires("postgres")
        def test_stops_redis(realstack):
            with realstack.outage("redis"):
                pass
        """,
    )
    bring_up(inner.project)
    inner.project.stop(only=["redis"])

    result = inner.run()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*realstack.outage('redis'): redis was not-running, not running as this checkout's*"]
    )
    assert states(inner.project)["redis"] == "down"


def test_an_outage_inside_an_outage_runs_at_once_and_both_services_come_back(
    inner: Inner,
) -> None:
    """The stack is the test's already: the inner outage does not wait for it (it waited
    out the lock's whole deadline, on a lock its own process held)."""
    inner.write(
        "e2e/test_outage.py",
        """
        import psycopg
        import pytest
        import redis

        def test_both_away(realstack, service_urls):
            with realstack.outage("redis"):
                with realstack.outage("postgres"):
                    with pytest.raises(psycopg.OperationalError):
                        psycopg.connect(service_urls["DATABASE_URL"], connect_timeout=2)
                assert psycopg.connect(service_urls["DATABASE_URL"]).execute("SELECT 1")
                with pytest.raises(redis.ConnectionError):
                    redis.Redis.from_url(service_urls["REDIS_URL"]).ping()
            assert redis.Redis.from_url(service_urls["REDIS_URL"]).ping()
        """,
    )
    bring_up(inner.project)

    result = inner.run("-n", "2")

    result.assert_outcomes(passed=1)
    assert states(inner.project) == {"postgres": "ours", "redis": "ours"}

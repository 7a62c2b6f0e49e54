"""``--realstack-retry-infra``: an infrastructure failure is retried once, after the stack was
checked; a pass on the retry is flaky and fails the run unless allowed. Never a quiet green.

The inner tests really take Redis away: they stop it through realstack's API, see their
command fail, and only then (so the failure does not race the comeback) hand its restart to an
outside actor, a separate process starting it through realstack's API as an operator or a
supervisor would. The plugin never starts a service itself: it waits, with a deadline, for the
probes to pass again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psutil
import pytest

from plugin.conftest import Inner, bring_up, states

ACTOR_WAIT = 120.0
CONFTEST = """
    import subprocess
    import sys
    from pathlib import Path

    import pytest
    from realstack import orchestrator

    ROOT = Path(__file__).resolve().parent
    ACTOR = (
        "import sys; from pathlib import Path; from realstack import orchestrator; "
        "from realstack.manifest import load_stack; "
        "orchestrator.start(load_stack(Path(sys.argv[1]), sys.argv[2]), only=['redis'])"
        ".raise_for_errors()"
    )


    @pytest.fixture
    def attempt(request):
        \"\"\"This test's attempt, counted in a file the outer test reads (1, 2 …).\"\"\"
        record = ROOT / "attempts" / request.node.name
        record.parent.mkdir(exist_ok=True)
        with record.open("a") as out:
            out.write("attempt\\n")
        return len(record.read_text().splitlines())


    @pytest.fixture(scope="session")
    def outage(realstack):
        \"\"\"Stop Redis, run ``use`` (which fails: Redis is gone), and then, when Redis
        ``comes_back``, start the actor that brings it back.\"\"\"
        def take_redis_away(use, comes_back):
            orchestrator.stop(realstack.stack, only=["redis"]).raise_for_errors()
            try:
                use()
            finally:
                if comes_back:
                    stack = realstack.stack
                    with (ROOT / "actor.log").open("ab") as log:
                        actor = subprocess.Popen(
                            [sys.executable, "-c", ACTOR, str(stack.root), stack.env],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True,
                        )
                    with (ROOT / "actors").open("a") as out:
                        out.write(f"{actor.pid}\\n")
        return take_redis_away
"""
FLAKY = """
    def test_cart_survives_a_redis_restart(redis_client, outage, attempt):
        redis_client.set("cart", "3 items")
        if attempt == 1:
            outage(lambda: redis_client.get("cart"), comes_back=True)
        assert redis_client.get("cart") == "3 items"
"""
# a client of their own: no fixture touches Redis after the test, while it may still be down
DOWN_EVERY_TIME = """
    import redis

    def test_cart_survives_every_redis_restart(service_urls, outage, attempt):
        client = redis.Redis.from_url(service_urls["REDIS_URL"])
        client.set("cart", "3 items")
        outage(lambda: client.get("cart"), comes_back=True)
"""
STAYS_DOWN = """
    import redis

    def test_cart_survives_a_lost_redis(service_urls, outage, attempt):
        client = redis.Redis.from_url(service_urls["REDIS_URL"])
        client.set("cart", "3 items")
        outage(lambda: client.get("cart"), comes_back=False)
"""
# the outage in a module-scoped fixture's setup, with another test of the module after it (so
# the module's scope outlives the first attempt): the retry must run the fixture again, not
# re-raise the error it cached
SETUP_OUTAGE = """
    from pathlib import Path

    import pytest
    import redis

    ROOT = Path(__file__).resolve().parents[1]

    @pytest.fixture(scope="module")
    def catalogue(service_urls, outage):
        client = redis.Redis.from_url(service_urls["REDIS_URL"])
        record = ROOT / "catalogue-setups"
        with record.open("a") as out:
            out.write("setup\\n")
        if len(record.read_text().splitlines()) == 1:
            outage(lambda: client.get("catalogue"), comes_back=True)
        client.set("catalogue", "loaded")
        return client

    def test_catalogue_is_loaded(catalogue):
        assert catalogue.get("catalogue") == b"loaded"

    def test_catalogue_is_still_loaded(catalogue):
        assert catalogue.get("catalogue") == b"loaded"
"""
WRONG = """
    def test_totals_are_wrong(redis_client, attempt):
        redis_client.set("total", "1")
        assert redis_client.get("total") == "2"
"""
POSTGRES_ONLY = """
    import psycopg
    import pytest

    pytestmark = pytest.mark.requires("postgres")

    def test_orders_are_counted(service_urls):
        with psycopg.connect(service_urls["DATABASE_URL"]) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

    def test_invoice_totals_are_wrong(service_urls, attempt):
        with psycopg.connect(service_urls["DATABASE_URL"]) as conn:
            assert conn.execute("SELECT 1 + 1").fetchone() == (3,)
"""
FLAKY_LINE = "flaky: passed only on retry after an infrastructure failure (1)*"
FLAKY_ID = "e2e/test_cart.py::test_cart_survives_a_redis_restart"


@pytest.fixture
def outages(inner: Inner) -> Iterator[Inner]:
    """The inner run with the stack up and the outage helpers; afterwards every actor has
    finished and Redis is realstack's again (each actor brought it back)."""
    bring_up(inner.project)
    inner.write("conftest.py", CONFTEST)
    yield inner
    actors = inner.path / "actors"
    for pid in actors.read_text().split() if actors.exists() else []:
        with contextlib.suppress(psutil.NoSuchProcess):  # already gone
            psutil.Process(int(pid)).wait(ACTOR_WAIT)


def attempts(inner: Inner, test: str) -> int:
    return len((inner.path / "attempts" / test).read_text().splitlines())


def outcomes(result: pytest.RunResult) -> dict[str, int]:
    """The final line's counts, ``rerun`` included (``assert_outcomes`` does not know it)."""
    return result.parseoutcomes()


def test_a_pass_on_the_retry_after_redis_came_back_is_flaky_and_fails_the_run(
    outages: Inner,
) -> None:
    """The first attempt is shown as a rerun; the pass on the retry fails as flaky."""
    outages.write("e2e/test_cart.py", FLAKY)
    result = outages.run("--realstack-retry-infra", "-rA")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    assert outcomes(result) == {"failed": 1, "rerun": 1}
    assert attempts(outages, "test_cart_survives_a_redis_restart") == 2
    result.stdout.fnmatch_lines(
        [
            "*_ test_cart_survives_a_redis_restart _*",
            "flaky: passed only on its retry; the first attempt failed: *",
            "*realstack summary*",
            FLAKY_LINE,
            f"  {FLAKY_ID}: the first attempt failed: *",
            f"FAILED {FLAKY_ID} - flaky*",
        ]
    )
    result.stdout.no_fnmatch_line("infrastructure failures*")
    assert states(outages.project)["redis"] == "ours"


def test_with_allow_flaky_the_retried_pass_passes_and_is_still_listed(outages: Inner) -> None:
    outages.write("e2e/test_cart.py", FLAKY)
    result = outages.run("--realstack-retry-infra", "--realstack-allow-flaky")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert outcomes(result) == {"passed": 1, "rerun": 1}
    result.stdout.fnmatch_lines(
        [
            "*realstack summary*",
            "flaky: passed only on retry after an infrastructure failure (1), allowed*",
            f"  {FLAKY_ID}: the first attempt failed: *",
        ]
    )


def test_the_ini_and_the_environment_turn_retries_on_too(
    outages: Inner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings resolve option → environment → ini: the ini asks, the environment allows."""
    outages.write("e2e/test_cart.py", FLAKY)
    outages.write("pytest.ini", "[pytest]\nrealstack_retry_infra = true\n")
    monkeypatch.setenv("REALSTACK_ALLOW_FLAKY", "yes")
    result = outages.run()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert outcomes(result) == {"passed": 1, "rerun": 1}


def test_a_test_that_fails_again_on_its_retry_stays_an_infrastructure_failure(
    outages: Inner,
) -> None:
    outages.write("e2e/test_cart.py", DOWN_EVERY_TIME)
    result = outages.run("--realstack-retry-infra")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    assert outcomes(result) == {"failed": 1, "rerun": 1}
    assert attempts(outages, "test_cart_survives_every_redis_restart") == 2
    result.stdout.fnmatch_lines(
        [
            "*realstack summary*",
            "infrastructure failures (1): service down, crashed or unreachable",
            "  e2e/test_cart.py::test_cart_survives_every_redis_restart: *"
            "(on its retry; the first attempt: *)",
        ]
    )
    result.stdout.no_fnmatch_line("flaky*")


def test_services_that_do_not_come_back_in_time_mean_no_retry_and_the_failure_stands(
    outages: Inner,
) -> None:
    """Nobody brings Redis back: after the deadline the first failure stands, saying why."""
    outages.write("e2e/test_cart.py", STAYS_DOWN)
    result = outages.run("--realstack-retry-infra", "--realstack-retry-wait=2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    assert "rerun" not in outcomes(result)
    assert attempts(outages, "test_cart_survives_a_lost_redis") == 1
    result.stdout.fnmatch_lines(
        [
            "infrastructure failures (1): service down, crashed or unreachable",
            "  e2e/test_cart.py::test_cart_survives_a_lost_redis: redis: probe redis PING*"
            "not retried: its services did not pass their probes within 2s (redis: *)",
        ]
    )


def test_an_outage_in_a_wider_fixtures_setup_is_retried_with_that_fixture_run_again(
    outages: Inner,
) -> None:
    outages.write("e2e/test_catalogue.py", SETUP_OUTAGE)
    result = outages.run("--realstack-retry-infra")
    assert outcomes(result) == {"failed": 1, "passed": 1, "rerun": 1}, result.stdout.str()
    assert (outages.path / "catalogue-setups").read_text().splitlines() == ["setup", "setup"]
    result.stdout.fnmatch_lines(
        [
            "e2e/test_catalogue.py RF.*",
            FLAKY_LINE,
            "  e2e/test_catalogue.py::test_catalogue_is_loaded: the first attempt failed: *",
        ]
    )


def test_a_test_failure_is_never_retried(outages: Inner) -> None:
    outages.write("e2e/test_totals.py", WRONG)
    result = outages.run("--realstack-retry-infra")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes(result) == {"failed": 1}
    assert attempts(outages, "test_totals_are_wrong") == 1
    result.stdout.fnmatch_lines(
        ["test failures (1):", "  e2e/test_totals.py::test_totals_are_wrong"]
    )


def test_without_the_option_an_infrastructure_failure_is_not_retried(outages: Inner) -> None:
    outages.write("e2e/test_cart.py", FLAKY)
    result = outages.run()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes(result) == {"failed": 1}
    assert attempts(outages, "test_cart_survives_a_redis_restart") == 1
    result.stdout.fnmatch_lines(
        ["infrastructure failures (1): service down, crashed or unreachable", f"  {FLAKY_ID}: *"]
    )


def test_under_xdist_the_verdicts_are_the_same(outages: Inner) -> None:
    """Two workers: the reruns and verdicts travel with the reports to the controller. The
    other tests need only PostgreSQL and touch no Redis, so the outage cannot reach them."""
    outages.write("e2e/test_cart.py", FLAKY)
    outages.write("e2e/test_orders.py", POSTGRES_ONLY)
    result = outages.run("--realstack-retry-infra", "-n", "2", "-rA")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    assert outcomes(result) == {"failed": 2, "passed": 1, "rerun": 1}
    assert attempts(outages, "test_cart_survives_a_redis_restart") == 2
    assert attempts(outages, "test_invoice_totals_are_wrong") == 1
    result.stdout.fnmatch_lines(
        [
            "*realstack summary*",
            FLAKY_LINE,
            f"  {FLAKY_ID}: the first attempt failed: *",
            "test failures (1):",
            "  e2e/test_orders.py::test_invoice_totals_are_wrong",
        ]
    )


def test_bad_settings_are_usage_errors(inner: Inner, monkeypatch: pytest.MonkeyPatch) -> None:
    inner.write("e2e/test_x.py", "def test_x():\n    pass\n")
    for args in (["--realstack-retry-wait=soon"], ["--realstack-retry-wait=0"]):
        result = inner.run("--realstack-retry-infra", *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*realstack_retry_wait=*expected a positive number*"])
    monkeypatch.setenv("REALSTACK_RETRY_INFRA", "maybe")
    result = inner.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*REALSTACK_RETRY_INFRA='maybe': expected one of*"])

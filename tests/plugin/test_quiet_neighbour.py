"""Installed is not invited: without a realstack manifest the plugin changes nothing, and in a
project with one it never swallows a test's own warnings nor leaks a secret into a report."""

from __future__ import annotations

import pytest

from plugin.conftest import PASSWORD, Inner, bring_up, source

UNTOUCHED = """
    import _socket
    import gc
    import socket
    import sys
    import warnings

    import pytest

    def test_sockets_are_not_patched():
        assert socket.socket.connect is _socket.socket.connect
        assert socket.socket.sendall is _socket.socket.sendall

    def test_no_database_client_was_imported_for_us():
        assert not {"psycopg", "redis", "httpx"} & set(sys.modules)

    def test_recwarn_sees_the_tests_own_resource_warning(recwarn):
        warnings.warn("unclosed thing", ResourceWarning)
        assert [str(w.message) for w in recwarn] == ["unclosed thing"]

    def test_pytest_warns_sees_it_too():
        with pytest.warns(ResourceWarning, match="unclosed"):
            warnings.warn("unclosed socket", ResourceWarning)
"""

# a directory that happens to be called `integration`: strict only in a realstack project
NOT_A_SUITE = """
    import pytest

    def test_skips_as_it_likes():
        pytest.skip("not a real-service suite")
"""


def test_without_a_manifest_the_plugin_changes_nothing(
    pytester: pytest.Pytester, inner_env: dict[str, str]
) -> None:
    """Sockets unpatched, no client imports, recwarn/pytest.warns as with -p no:realstack,
    and a directory named ``integration`` is just a directory."""
    pytester.makepyfile(test_untouched=source(UNTOUCHED))
    (pytester.path / "integration").mkdir()
    (pytester.path / "integration" / "test_skip.py").write_text(source(NOT_A_SUITE))
    flags = ("-p", "no:valkey", "-p", "no:benchmark", "-p", "no:cacheprovider", "-W", "error")
    with_plugin = pytester.runpytest_subprocess(*flags, timeout=60)
    without = pytester.runpytest_subprocess(*flags, "-p", "no:realstack", timeout=60)
    with_plugin.assert_outcomes(passed=4, skipped=1)
    without.assert_outcomes(passed=4, skipped=1)
    with_plugin.stdout.no_fnmatch_line("realstack*")  # no header, no summary


def test_a_plain_package_inside_a_realstack_checkout_is_its_own_project(
    pytester: pytest.Pytester, inner_env: dict[str, str]
) -> None:
    """A monorepo's package with a pyproject of its own, no manifest in it, under a checkout
    that has one: its run is as without the plugin (before, the checkout's manifest was
    found above it, and its suite got the header, the checks and the client imports)."""
    (pytester.path / "pyproject.toml").write_text(
        '[tool.realstack]\ndefault_env = "test"\n'
        '[tool.realstack.services.cache]\nkind = "redis"\nport = 16999\n'
    )
    package = pytester.path / "pkg"
    package.mkdir()
    (package / "pyproject.toml").write_text('[project]\nname = "pkg"\n[tool.pytest.ini_options]\n')
    (package / "test_untouched.py").write_text(source(UNTOUCHED))
    flags = ("-p", "no:valkey", "-p", "no:benchmark", "-p", "no:cacheprovider", "-W", "error")
    result = pytester.runpytest_subprocess("pkg", *flags, timeout=60)
    result.assert_outcomes(passed=4)
    result.stdout.no_fnmatch_line("realstack*")


OWN_WARNINGS = """
    import warnings

    import pytest

    def test_recwarn_in_a_strict_suite(recwarn, redis_client):
        redis_client.ping()
        warnings.warn("unclosed thing", ResourceWarning)
        assert [str(w.message) for w in recwarn] == ["unclosed thing"]

    def test_pytest_warns_in_a_strict_suite(redis_client):
        redis_client.ping()
        with pytest.warns(ResourceWarning, match="unclosed"):
            warnings.warn("unclosed socket", ResourceWarning)
"""


def test_a_strict_suite_leaves_the_tests_own_warnings_to_the_test(inner: Inner) -> None:
    """The coroutine check observes only un-awaited coroutines: recwarn still sees the rest."""
    bring_up(inner.project)
    inner.write("e2e/test_warnings.py", OWN_WARNINGS)
    result = inner.run("-W", "error")
    result.assert_outcomes(passed=2)


HANDLED_COROUTINE_WARNINGS = """
    import pytest

    async def fetch():
        return 1

    def test_expects_it_with_pytest_warns():
        with pytest.warns(RuntimeWarning, match="never awaited"):
            fetch()

    @pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
    def test_ignores_it_by_marker():
        fetch()

    def test_looks_at_it_with_recwarn(recwarn):
        fetch()
        assert any("never awaited" in str(w.message) for w in recwarn)

    def test_leaves_one_unseen():
        fetch()
"""


def test_a_never_awaited_warning_the_test_handles_is_the_tests_own(inner: Inner) -> None:
    """pytest.warns, a filterwarnings marker or recwarn: the test expects the warning (as
    psycopg's own suite does), so the coroutine check leaves it alone; an unhandled one still
    fails its test."""
    inner.write("test_coroutines.py", HANDLED_COROUTINE_WARNINGS)
    result = inner.run()
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_leaves_one_unseen _*",
            "un-awaited coroutine (its code never ran): coroutine 'fetch' was never awaited",
        ]
    )


LEAKY = """
    def test_connects_to_the_right_database(service_urls, pg_conn):
        pg_conn.execute("SELECT 1")
        url = service_urls["DATABASE_URL"]
        assert url.endswith("/some_other_db"), f"wrong database: {url}"
"""


@pytest.mark.parametrize("how", ["plain", "xdist"])
def test_a_failure_report_never_shows_the_database_password(inner: Inner, how: str) -> None:
    """The password is in the DSN the test asserts on; the report shows *** instead, in every
    form it could take (as written, URL-quoted), and so does a junit XML file (written as the
    report is logged; under xdist, on the controller from what the worker shipped)."""
    bring_up(inner.project)
    inner.write("e2e/test_leaky.py", LEAKY)
    xml = inner.path / "report.xml"
    result = inner.run("-vv", f"--junitxml={xml}", *(["-n", "1"] if how == "xdist" else []))
    result.assert_outcomes(failed=1)
    output = result.stdout.str() + result.stderr.str() + xml.read_text()
    assert "wrong database" in output
    assert "***" in output
    for form in (PASSWORD, "s3cret", "s3cret%40"):
        assert form not in output, f"{form!r} leaked into the report"


SESSION_IO = """
    import pytest

    @pytest.fixture(scope="session")
    def warmed(redis_client_factory):
        return redis_client_factory

    @pytest.fixture(scope="session")
    def redis_client_factory(service_urls):
        import redis
        client = redis.Redis.from_url(service_urls["REDIS_URL"])
        client.ping()  # session set-up talks to Redis ...
        yield client
        client.close()

    def test_first_uses_only_the_session_fixture(warmed):
        assert warmed is not None  # ... but this test itself contacts nothing

    def test_second_uses_only_the_session_fixture(warmed):
        assert warmed is not None
"""


@pytest.mark.parametrize("order", ["first", "second"])
def test_a_session_fixtures_io_is_credited_to_no_test(inner: Inner, order: str) -> None:
    """Whichever test runs first, neither contacted a service itself: both fail the audit."""
    bring_up(inner.project)
    inner.write("e2e/test_session_io.py", SESSION_IO)
    result = inner.run("-k", order)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no real service was contacted*"])

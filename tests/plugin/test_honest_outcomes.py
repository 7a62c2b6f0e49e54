"""Runs that would go green on nothing (mocks, skips, import errors, zero tests) go red."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from plugin.conftest import PASSWORD, Inner, bring_up

REAL_TEST = """
    def test_talks_to_redis(redis_client):
        assert redis_client.ping()
"""


@pytest.fixture
def stack_up(inner: Inner) -> Inner:
    """The inner run, with the module's stack running."""
    bring_up(inner.project)
    return inner


def test_a_strict_test_that_only_uses_a_mock_fails_the_real_io_audit(stack_up: Inner) -> None:
    """A mock standing in for the database proves nothing in a real-service suite."""
    stack_up.write(
        "e2e/test_mocked.py",
        """
        from unittest import mock

        def test_user_is_stored():
            db = mock.Mock()
            db.execute.return_value = [("alice",)]
            assert db.execute("SELECT name FROM users") == [("alice",)]
        """,
    )
    result = stack_up.run()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*no real service was contacted*"])
    result.assert_outcomes(failed=1)


def test_the_same_mock_test_passes_when_marked_realstack_no_audit(stack_up: Inner) -> None:
    """The audit has an explicit, reasoned opt-out."""
    stack_up.write(
        "e2e/test_mocked.py",
        """
        from unittest import mock
        import pytest

        @pytest.mark.realstack_no_audit("checks the query text only")
        def test_user_is_stored():
            db = mock.Mock()
            db.execute.return_value = [("alice",)]
            assert db.execute("SELECT name FROM users") == [("alice",)]
        """,
    )
    result = stack_up.run()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1)


MARKED_MODULE = """
    import pytest

    pytestmark = pytest.mark.e2e

    def test_module_marked():
        assert True
"""
MARKED_CLASSES = """
    import pytest

    @pytest.mark.e2e
    class TestMarked:
        def test_class_marked(self):
            assert True

    @pytest.mark.e2e
    @pytest.mark.realstack_no_audit("the class opts out, for each of its tests")
    class TestExempt:
        def test_class_exempt(self):
            assert True

    class TestPlain:
        def test_in_a_plain_class(self):
            assert True

    @pytest.mark.e2e
    def test_own_marker():
        assert True

    def test_unmarked():
        assert True
"""


def test_a_suite_marker_on_a_test_its_class_or_its_module_makes_it_strict(
    stack_up: Inner,
) -> None:
    """Outside the suite directories, a suite's marker (the inner runs' suite: ``e2e``) makes
    a test strict wherever it is set: the marked tests that contact nothing fail the audit
    (one marked class is exempt by its own marker); the unmarked ones are ordinary tests."""
    stack_up.write("tests/test_marked_module.py", MARKED_MODULE)
    stack_up.write("tests/test_marked_classes.py", MARKED_CLASSES)
    result = stack_up.run("-rA")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=3, passed=3)
    result.stdout.fnmatch_lines(
        [
            "FAILED tests/test_marked_classes.py::TestMarked::test_class_marked*",
            "FAILED tests/test_marked_classes.py::test_own_marker*",
            "FAILED tests/test_marked_module.py::test_module_marked*",
        ],
        consecutive=False,
    )


def test_an_import_error_in_a_test_module_fails_the_run(stack_up: Inner) -> None:
    """A module that cannot be imported is an error in the summary, never silently dropped."""
    stack_up.write("e2e/test_real.py", REAL_TEST)
    stack_up.write("e2e/test_broken.py", "import module_that_does_not_exist\n")
    result = stack_up.run()
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*ERROR*e2e/test_broken.py*", "*1 error*"])


def test_an_import_error_fails_the_run_even_when_collection_errors_are_continued(
    stack_up: Inner,
) -> None:
    """``--continue-on-collection-errors`` runs the rest, and the exit code stays red."""
    stack_up.write("e2e/test_real.py", REAL_TEST)
    stack_up.write("e2e/test_broken.py", "import module_that_does_not_exist\n")
    result = stack_up.run("--continue-on-collection-errors")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, errors=1)


def test_no_tests_collected_is_exit_code_5_with_the_plugins_line(stack_up: Inner) -> None:
    """Zero collected tests is a failure, and the plugin says so."""
    stack_up.write("e2e/test_empty.py", "HELPER = 1\n")
    result = stack_up.run()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["*realstack: no tests ran — that is a failure*"])


UNAWAITED = """
    async def store_user(redis_client):
        redis_client.set("user", "alice")

    def test_stores_a_user_{suite}(redis_client):
        store_user(redis_client)
        redis_client.ping()
"""


def test_an_unawaited_coroutine_fails_its_test_in_and_outside_strict_suites(
    stack_up: Inner,
) -> None:
    """Calling an ``async def`` without awaiting it ran none of its code: that test fails."""
    stack_up.write("e2e/test_async_strict.py", UNAWAITED.format(suite="strict"))
    stack_up.write("test_async_plain.py", UNAWAITED.format(suite="plain"))
    result = stack_up.run()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*_ test_stores_a_user_strict _*",
            "*un-awaited coroutine*'store_user' was never awaited*",
            "*_ test_stores_a_user_plain _*",
            "*un-awaited coroutine*'store_user' was never awaited*",
        ]
    )
    result.assert_outcomes(failed=2)


SKIPPING = """
    import pytest

    def test_real(redis_client):
        assert redis_client.ping()

    def test_needs_a_feature_flag(redis_client):
        pytest.skip("feature flag off")
"""


def test_a_skip_in_a_strict_suite_fails_the_run_and_is_listed(stack_up: Inner) -> None:
    """A skip in a strict suite is counted as a failure, under its own heading."""
    stack_up.write("e2e/test_flags.py", SKIPPING)
    result = stack_up.run()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*realstack summary*",
            "skips in strict suites, counted as failures (1):",
            "  e2e/test_flags.py::test_needs_a_feature_flag",
        ]
    )
    result.stdout.no_fnmatch_line("test failures*")
    result.assert_outcomes(passed=1, failed=1)


def test_under_xdist_the_controllers_summary_still_lists_the_strict_skip(stack_up: Inner) -> None:
    """Workers decide what a strict report is; the controller, which prints, learns it."""
    stack_up.write("e2e/test_flags.py", SKIPPING)
    result = stack_up.run("-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*realstack summary*",
            "skips in strict suites, counted as failures (1):",
            "  e2e/test_flags.py::test_needs_a_feature_flag",
        ]
    )


def test_with_allow_skip_a_skip_in_a_strict_suite_is_a_skip(stack_up: Inner) -> None:
    """``--realstack-allow-skip`` is the explicit opt-out: the skip stays a skip."""
    stack_up.write("e2e/test_flags.py", SKIPPING)
    result = stack_up.run("--realstack-allow-skip")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.no_fnmatch_line("*skips in strict suites*")


SKIPS_AT_IMPORT = """
    import pytest

    client = pytest.importorskip("no_such_ws_client_for_realstack")

    def test_chats(redis_client):
        assert redis_client.ping()
"""


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_strict_module_that_skips_itself_at_import_fails_the_run(
    stack_up: Inner, workers: tuple[str, ...]
) -> None:
    """``importorskip`` at the top of an e2e module: none of its tests ran, so the run fails
    and says which module and why (before: "1 passed, 1 skipped", exit 0)."""
    stack_up.write("e2e/test_real.py", REAL_TEST)
    stack_up.write("e2e/test_ws.py", SKIPS_AT_IMPORT)
    result = stack_up.run(*workers)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "skips in strict suites, counted as failures (1):",
            "  e2e/test_ws.py (skipped at import: could not import "
            "'no_such_ws_client_for_realstack'*",
        ]
    )


def test_a_module_skip_outside_strict_suites_or_allowed_stays_a_skip(stack_up: Inner) -> None:
    """A plain module may skip itself; a strict one may with ``--realstack-allow-skip``."""
    stack_up.write("e2e/test_real.py", REAL_TEST)
    stack_up.write("test_plain_ws.py", SKIPS_AT_IMPORT)
    plain = stack_up.run()
    assert plain.ret == pytest.ExitCode.OK, plain.stdout.str()
    plain.assert_outcomes(passed=1, skipped=1)
    stack_up.write("e2e/test_ws.py", SKIPS_AT_IMPORT)
    allowed = stack_up.run("--realstack-allow-skip")
    assert allowed.ret == pytest.ExitCode.OK, allowed.stdout.str()
    allowed.stdout.no_fnmatch_line("*skips in strict suites*")


def test_the_header_names_the_env_and_redacts_the_password(stack_up: Inner) -> None:
    """The run says which stack it tests, and never prints the database password."""
    stack_up.write("e2e/test_real.py", REAL_TEST)
    result = stack_up.run()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    pg_port = stack_up.project.stack().service("postgres").port
    result.stdout.fnmatch_lines(
        [
            f"realstack: env test ({stack_up.project.state})",
            f"  DATABASE_URL=postgresql://plugin_user:***@localhost:{pg_port}/plugin_db",
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert PASSWORD not in output
    assert quote(PASSWORD, safe="") not in output

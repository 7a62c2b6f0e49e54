"""realstack's pytest plugin: suites that fail loudly instead of going green on nothing.

It does nothing in a run whose project has no realstack manifest (``[tool.realstack]`` in the
nearest pyproject.toml at or above pytest's rootdir, or ``--realstack-root``): no patching, no
imports of database clients, no hooks of its own beyond its options. In a project with one:

- tests marked (or living under a directory named) ``e2e`` / ``integration`` are *strict*:
  the services they need (``@pytest.mark.requires("postgres")``, default: all) must be healthy
  at session start, or the session stops once, naming service, probe, error and log tail; a
  skip fails the run (opt out: ``--realstack-allow-skip``); a test that contacted no endpoint of
  the stack fails (the real-I/O audit); failures carry what the services logged during the
  test, and the summary sorts them into infrastructure and test failures;
- ``--realstack-retry-infra``: an infrastructure failure is retried once, when the test's
  services pass their probes again; a pass on the retry is flaky and fails the run unless
  ``--realstack-allow-flaky`` (:mod:`.retry`; nothing of it is registered otherwise);
- an un-awaited coroutine fails its test (ini ``realstack_coroutine_check``);
- failure reports never show the stack's secrets;
- ``--realstack-start`` starts what is missing and stops, at the end (Ctrl-C included), only
  what this session started;
- a test that stops a service (``realstack.outage(name)``, ``realstack.restart(name)``) holds
  the stack alone for that window; every other strict test, in any xdist worker, holds it
  shared (:mod:`.outages`);
- its fixtures (``realstack``, ``service_urls``, ``pg_conn``, ``redis_client``,
  ``http_client``, ``realstack_namespace``, ``fresh_database``, ``fresh_pg_conn``) exist.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from realstack.pytest_plugin import _settings, hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("realstack", "realstack: tests against the real stack")
    group.addoption("--realstack-env", default=None, help=_settings.ENV_DESC)
    # a Path: load_stack() takes one (a bare str broke find_root())
    group.addoption("--realstack-root", default=None, type=Path, help=_settings.ROOT_DESC)
    group.addoption("--realstack-start", action="store_true", help=_settings.START_DESC)
    group.addoption("--realstack-allow-skip", action="store_true", help=_settings.ALLOW_SKIP_DESC)
    group.addoption(
        "--realstack-allow-destructive", action="store_true", help=_settings.ALLOW_DESTRUCTIVE_DESC
    )
    group.addoption(
        "--realstack-keep-failed-db",
        action="store_true",
        help="keep a failed test's fresh_database; its URL (password masked) is in the report",
    )
    group.addoption(
        "--realstack-shard-report",
        default=None,
        type=Path,
        metavar="PATH",
        help="write this run's collection, selection and outcomes (JSON) for "
        "`python -m realstack.shards verify`",
    )
    group.addoption("--realstack-retry-infra", action="store_true", help=_settings.RETRY_INFRA_DESC)
    group.addoption("--realstack-allow-flaky", action="store_true", help=_settings.ALLOW_FLAKY_DESC)
    group.addoption(
        "--realstack-retry-wait", default=None, metavar="SECONDS", help=_settings.RETRY_WAIT_DESC
    )
    for name, desc in (
        ("realstack_retry_infra", _settings.RETRY_INFRA_DESC),
        ("realstack_allow_flaky", _settings.ALLOW_FLAKY_DESC),
    ):
        parser.addini(name, type="bool", default=False, help=desc)
    parser.addini("realstack_retry_wait", default="", help=_settings.RETRY_WAIT_DESC)
    parser.addini(
        "realstack_suites", type="args", default=["e2e", "integration"], help=_settings.SUITES_DESC
    )
    parser.addini("realstack_requires", type="args", default=[], help=_settings.REQUIRES_DESC)
    parser.addini(
        "realstack_local_fixtures", type="args", default=[], help=_settings.LOCAL_FIXTURES_DESC
    )
    parser.addini(
        "realstack_coroutine_check", type="bool", default=True, help=_settings.COROUTINES_DESC
    )


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """``--realstack-shard-report``, asked for by name, in any project: its recorder is
    registered before any plugin's ``pytest_configure`` (see :mod:`.shard_report`)."""
    path = config.getoption("realstack_shard_report", None)
    if path is not None:
        from realstack.pytest_plugin.shard_report import PLUGIN, ShardReport  # noqa: PLC0415

        config.pluginmanager.register(ShardReport(path), PLUGIN)


def pytest_configure(config: pytest.Config) -> None:
    """Register the role objects, only in a project that has a realstack manifest."""
    settings = _settings.resolve(config)
    if settings.root is None:
        return
    # imported here: a run without a manifest never loads the rest of realstack
    from realstack.pytest_plugin import coroutines, fixtures  # noqa: PLC0415
    from realstack.pytest_plugin._session import STATE_KEY, Session  # noqa: PLC0415
    from realstack.pytest_plugin.lifecycle import StackOwner  # noqa: PLC0415
    from realstack.pytest_plugin.run import ProjectRun, register_tally  # noqa: PLC0415

    config.addinivalue_line("markers", "requires(*services): services the test needs healthy")
    config.addinivalue_line("markers", "realstack_no_audit(reason): exempt from the I/O audit")
    config.addinivalue_line(
        "markers", "realstack_local(reason): needs the local stack (refused on a deployed env)"
    )
    config.addinivalue_line(
        "markers", "destructive: changes shared data (refused on a deployed env unless allowed)"
    )
    for suite in settings.suites:
        config.addinivalue_line("markers", f"{suite}: needs the real stack (realstack)")
    state = Session(config, settings)
    config.stash[STATE_KEY] = state
    worker = hasattr(config, "workerinput")
    controller = not worker and bool(getattr(config.option, "numprocesses", None))
    owner = StackOwner(state, controller) if settings.start and not worker else None
    if owner is not None:
        config.pluginmanager.register(owner, "realstack-stack-owner")
    retry = None
    if settings.retry_infra:  # only then: a run without it pays for no retry machinery
        from realstack.pytest_plugin.retry import register  # noqa: PLC0415

        retry = register(config, state, runs_tests=not controller)
    run = ProjectRun(state, owner, worker, retry)
    config.pluginmanager.register(run, "realstack-project-run")
    if controller:  # the controller runs no tests: it sorts what the workers report
        register_tally(config, state)
    # the fixtures exist only where a manifest does: no name clashes in other projects
    config.pluginmanager.register(fixtures, "realstack-fixtures")
    if settings.coroutines:
        coroutines.install()

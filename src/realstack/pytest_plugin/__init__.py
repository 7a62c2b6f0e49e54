"""realstack's pytest plugin: suites that fail loudly instead of going green on nothing.

Tests marked (or living under a directory named) ``e2e`` / ``integration`` are *strict*:
- the services they need (``@pytest.mark.requires("postgres")``, default: all) must be healthy
  at session start, or the session stops once, naming service, probe, error and log tail;
- a skip fails the run (opt out: ``--realstack-allow-skip``);
- a test that contacted no endpoint of the stack fails (the real-I/O audit);
- failures carry the lines the services logged during the test, and the summary sorts them
  into infrastructure and test failures.
Everywhere: an un-awaited coroutine fails its test. ``--realstack-start`` starts what is
missing and stops, at the end (Ctrl-C included), only what this session started.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from realstack import orchestrator, runtime
from realstack.errors import RealstackError
from realstack.manifest import load_stack
from realstack.model import Stack
from realstack.providers import Logs
from realstack.pytest_plugin import audit, hooks, reporting
from realstack.pytest_plugin.fixtures import (
    auth_client,
    backend_client,
    http_client,
    pg_conn,
    realstack,
    realstack_namespace,
    redis_client,
    service_urls,
    ws_connect,
)
from realstack.pytest_plugin.policy import down_message, is_strict, required_services, unhealthy

__all__ = [
    "auth_client",
    "backend_client",
    "http_client",
    "pg_conn",
    "realstack",
    "realstack_namespace",
    "redis_client",
    "service_urls",
    "ws_connect",
]


class _Session:
    """What the plugin knows during one pytest session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.suites: list[str] = config.getini("realstack_suites")
        self.allow_skip: bool = config.getoption("realstack_allow_skip")
        self._stack: Stack | None = None
        self.requires: dict[str, list[str]] = {}  # strict nodeid → services it needs
        self.started: list[str] = []
        self.offsets: dict[str, dict[str, float]] = {}  # nodeid → service → log mark
        self._logs: dict[str, Logs] = {}
        self.skipped: list[str] = []
        self.infra: list[tuple[str, str]] = []
        self.failed: list[str] = []
        self.reported = False  # a strict test reported in this process (xdist: controller)

    @property
    def active(self) -> bool:
        return bool(self.requires)

    def load_stack(self) -> Stack:
        if self._stack is None:
            try:
                self._stack = load_stack(
                    self.config.getoption("realstack_root"), self.config.getoption("realstack_env")
                )
            except RealstackError as exc:
                pytest.exit(f"realstack: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
        return self._stack

    def contract(self) -> dict[str, str]:
        return runtime.contract(self.load_stack())

    def logs(self, name: str) -> Logs:
        """Where a service's output is (a log file, a container's log), found once."""
        if name not in self._logs:
            stack = self.load_stack()
            self._logs[name] = runtime.logs(stack, stack.service(name))
        return self._logs[name]

    def forget_logs(self) -> None:
        self._logs.clear()

    def needed(self) -> list[str]:
        return sorted({name for names in self.requires.values() for name in names})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Sort strict reports where they are shown: here, or on the xdist controller.

        The worker that ran the test decided the kind (see ``_classify``); the controller has
        no items of its own, so it learns it from the report.
        """
        kind = getattr(report, "realstack_kind", None)
        if kind is None:
            return
        self.reported = True
        if any(nodeid == report.nodeid for nodeid, _ in self.infra):
            return  # e.g. a fixture's teardown failing after the call did: one line per test
        if kind == "infra":
            self.infra.append((report.nodeid, str(getattr(report, "realstack_why", ""))))
            if report.nodeid in self.failed:
                self.failed.remove(report.nodeid)
        elif kind == "test" and report.nodeid not in self.failed:
            self.failed.append(report.nodeid)
        elif kind == "skip" and report.nodeid not in self.skipped:
            self.skipped.append(report.nodeid)


STATE_KEY = pytest.StashKey[_Session]()
_DOWN_KEY = "realstack_down"  # xdist workeroutput: why a worker stopped before its tests


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_xdist_controller(config: pytest.Config) -> bool:
    return not _is_xdist_worker(config) and bool(getattr(config.option, "numprocesses", None))


# --------------------------------------------------------------------------- set-up


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("realstack", "realstack: tests against the real stack")
    group.addoption(
        "--realstack-env",
        default=None,
        help="env whose stack the suites use (default: REALSTACK_ENV or the manifest's)",
    )
    group.addoption(
        "--realstack-root",
        default=None,
        type=Path,  # load_stack() takes a Path; a bare str broke find_root()
        help="project holding the manifest (default: found from the current dir)",
    )
    group.addoption(
        "--realstack-start",
        action="store_true",
        help="start missing services; stop what this session started at the end",
    )
    group.addoption(
        "--realstack-allow-skip",
        action="store_true",
        help="opt out: let strict suites skip (a skip fails the run otherwise)",
    )
    parser.addini(
        "realstack_suites",
        type="args",
        default=["e2e", "integration"],
        help="markers / directory names whose tests need the real stack",
    )
    parser.addini(
        "realstack_requires",
        type="args",
        default=[],
        help="services a strict test needs when it does not say (default: all)",
    )


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(*services): services the test needs healthy")
    config.addinivalue_line("markers", "realstack_no_audit(reason): exempt from the I/O audit")
    for suite in config.getini("realstack_suites"):
        config.addinivalue_line("markers", f"{suite}: needs the real stack (realstack)")
    state = _Session(config)
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(state, "realstack-session")
    audit.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    audit.uninstall()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under xdist the controller owns the stack: it starts it once, before any worker."""
    config = session.config
    if _is_xdist_controller(config) and config.getoption("realstack_start"):
        state = config.stash[STATE_KEY]
        _start(state, list(config.getini("realstack_requires")) or None)


def _start(state: _Session, only: list[str] | None) -> None:
    report = orchestrator.start(state.load_stack(), only=only)
    if not report.ok:
        pytest.exit(
            "realstack: --realstack-start failed:\n" + "\n".join(map(str, report.errors)),
            returncode=pytest.ExitCode.TESTS_FAILED,
        )
    state.started = [r.name for r in report.results if r.action == "started"]
    state.forget_logs()  # what runs where may have changed


def _register(state: _Session, items: list[pytest.Item]) -> None:
    """Note which of the items that will run are strict, and the services each needs."""
    config = state.config
    default = list(config.getini("realstack_requires"))
    for item in items:
        if is_strict(item, state.suites, config.rootpath):
            state.requires[item.nodeid] = required_services(item, default)
    if not state.active:
        return
    stack = state.load_stack()
    for nodeid, names in state.requires.items():
        unknown = [n for n in names if n not in stack.names]
        if unknown:
            raise pytest.UsageError(
                f"{nodeid}: requires unknown service(s) {unknown}; "
                f"the manifest has {', '.join(stack.names)}"
            )
        if not names:  # the services a plain `services.start` brings up (active profiles)
            state.requires[nodeid] = [svc.name for svc in stack.services if stack.enabled(svc)]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Strict suites need their services healthy before the first test runs.

    ``session.items`` is final here: ``-k``/``-m`` and other plugins have deselected what
    will not run, so a deselected test cannot demand a service the run does not need.
    ``tryfirst``: an xdist worker must stop before it hands its collection to the controller,
    or the controller schedules tests on a worker that is already gone.
    """
    config = session.config
    state = config.stash[STATE_KEY]
    _register(state, session.items)
    if not state.active or config.option.collectonly:
        return
    if config.getoption("realstack_start") and not _is_xdist_worker(config):
        _start(state, state.needed())
    stack = state.load_stack()
    failures = unhealthy(stack, state.needed())
    if failures:
        message = down_message(stack, failures, state.logs)
        if _is_xdist_worker(config):
            config.workeroutput[_DOWN_KEY] = message  # type: ignore[attr-defined]
        pytest.exit(message, returncode=pytest.ExitCode.TESTS_FAILED)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist controller: a worker stopped on unhealthy services; stop the session the same way.

    Without this the controller only sees workers that ended without running their tests.
    """
    message = getattr(node, "workeroutput", {}).get(_DOWN_KEY)
    if message:
        pytest.exit(message, returncode=pytest.ExitCode.TESTS_FAILED)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop what this session started (also after Ctrl-C); never what was running before.

    ``trylast``: after Ctrl-C the interrupted test's fixtures are torn down by pytest's own
    ``pytest_sessionfinish`` (and xdist's shuts its workers down there); both need the
    services still up, or their clean-up fails on a connection refused.
    """
    state = session.config.stash[STATE_KEY]
    if state.started and not _is_xdist_worker(session.config):
        orchestrator.stop(state.load_stack(), only=state.started)
        state.started = []


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The env and its endpoints (passwords redacted), when the project has a manifest."""
    try:
        stack = load_stack(config.getoption("realstack_root"), config.getoption("realstack_env"))
    except RealstackError:
        return []
    urls = runtime.contract(stack)
    lines = [f"realstack: env {stack.env} ({stack.state_dir})"]
    return lines + [f"  {k}={_redact(k, v)}" for k, v in urls.items() if k != "REALSTACK_ENV"]


def _redact(key: str, url: str) -> str:
    if key.endswith(("PASSWORD", "SECRET", "TOKEN", "_KEY")):
        return "***" if url else ""
    from urllib.parse import urlsplit, urlunsplit  # noqa: PLC0415

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


# --------------------------------------------------------------------------- per test


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    state = item.config.stash[STATE_KEY]
    names = state.requires.get(item.nodeid)
    if names is None:
        return
    state.offsets[item.nodeid] = {n: state.logs(n).mark() for n in names}
    audit.RECORDER.reset()
    audit.RECORDER.active = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """An un-awaited coroutine is a test that silently did not run its code: fail it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", message=r"coroutine .* was never awaited")
        try:
            result = yield
        finally:
            gc.collect()  # finalise the test's garbage now, inside the test
    never = [w for w in caught if "was never awaited" in str(w.message)]
    for w in caught:
        if w not in never:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if never:
        names = "; ".join(str(w.message) for w in never)
        pytest.fail(f"un-awaited coroutine (its code never ran): {names}", pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    state = item.config.stash[STATE_KEY]
    names = state.requires.get(item.nodeid)
    if names is None:
        return report
    stack = state.load_stack()
    kind, why = "ok", ""
    if report.skipped and not hasattr(report, "wasxfail") and not state.allow_skip:
        reporting.fail_skip(report)
        kind = "skip"  # counted once, as a skip in a strict suite, not also as a test failure
    elif (
        report.when == "call"
        and report.passed
        and not item.get_closest_marker("realstack_no_audit")
    ):
        reporting.audit(report, stack)
    if report.failed and kind != "skip":
        reporting.attach_logs(report, state.logs, state.offsets.get(item.nodeid, {}))
        kind, why = reporting.classify(stack, report, names)
    # extra attributes travel with the report: xdist serialises a report's __dict__
    report.__dict__.update(realstack_kind=kind, realstack_why=why)
    if report.when == "teardown":
        audit.RECORDER.active = False
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    reporting.write_summary(terminalreporter, exitstatus, config.stash[STATE_KEY])

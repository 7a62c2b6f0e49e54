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
from typing import Any

import pytest

from realstack import envfile, orchestrator
from realstack.errors import RealstackError
from realstack.manifest import load_stack
from realstack.model import Stack
from realstack.pytest_plugin import audit, hooks
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
from realstack.state import InstancePaths, size_of, tail

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

LOG_LINES_ON_FAILURE = 30
_CONNECTION_ERRORS = (
    "ConnectError",
    "ConnectionRefused",
    "OperationalError",
    "ConnectionError",
    "ConnectTimeout",
    "InvalidStatus",
    "ConnectionClosed",
)


class _Session:
    """What the plugin knows during one pytest session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.suites: list[str] = config.getini("realstack_suites")
        self.allow_skip: bool = config.getoption("realstack_allow_skip")
        self._stack: Stack | None = None
        self.requires: dict[str, list[str]] = {}  # strict nodeid → services it needs
        self.started: list[str] = []
        self.offsets: dict[str, dict[str, int]] = {}
        self.skipped: list[str] = []
        self.infra: list[tuple[str, str]] = []
        self.failed: list[str] = []

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
        return envfile.contract(self.load_stack())

    def needed(self) -> list[str]:
        return sorted({name for names in self.requires.values() for name in names})


STATE_KEY = pytest.StashKey[_Session]()


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
    config.stash[STATE_KEY] = _Session(config)
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[STATE_KEY]
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
        if not names:
            state.requires[nodeid] = list(stack.names)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Strict suites need their services healthy before the first test runs."""
    config = session.config
    state = config.stash[STATE_KEY]
    if not state.active or config.option.collectonly:
        return
    if config.getoption("realstack_start") and not _is_xdist_worker(config):
        _start(state, state.needed())
    stack = state.load_stack()
    failures = unhealthy(stack, state.needed())
    if failures:
        pytest.exit(down_message(stack, failures), returncode=pytest.ExitCode.TESTS_FAILED)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop what this session started (also after Ctrl-C); never what was running before."""
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
    urls = envfile.contract(stack)
    lines = [f"realstack: env {stack.env} ({stack.state_dir})"]
    return lines + [f"  {k}={_redact(v)}" for k, v in urls.items() if k != "REALSTACK_ENV"]


def _redact(url: str) -> str:
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
    paths = InstancePaths(state.load_stack().state_dir)
    state.offsets[item.nodeid] = {n: size_of(paths.log(n)) for n in names}
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
    if report.skipped and not hasattr(report, "wasxfail") and not state.allow_skip:
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = (
            f"skipped in a strict suite ({reason}). Tests that need real services "
            "fail instead of skipping; --realstack-allow-skip opts out."
        )
        state.skipped.append(item.nodeid)
    elif (
        report.when == "call"
        and report.passed
        and not item.get_closest_marker("realstack_no_audit")
    ):
        ports = {stack.service(n).port for n in stack.names}
        if not audit.RECORDER.seen & ports:
            report.outcome = "failed"
            report.longrepr = (
                "no real service was contacted: this test opened no connection to "
                f"any endpoint of the stack ({', '.join(map(str, sorted(ports)))}). "
                "A test in a real-service suite that only talks to mocks proves "
                "nothing; mark it realstack_no_audit(reason) if that is intended."
            )
    if report.failed:
        _attach_logs(report, stack, state.offsets.get(item.nodeid, {}))
        _classify(state, stack, report, names)
    if report.when == "teardown":
        audit.RECORDER.active = False
    return report


def _attach_logs(report: pytest.TestReport, stack: Stack, offsets: dict[str, int]) -> None:
    paths = InstancePaths(stack.state_dir)
    for name, offset in offsets.items():
        lines = tail(paths.log(name), LOG_LINES_ON_FAILURE, offset)
        if lines:
            report.sections.append((f"realstack log: {name} (during this test)", "\n".join(lines)))


def _classify(state: _Session, stack: Stack, report: pytest.TestReport, names: list[str]) -> None:
    failures = unhealthy(stack, names)
    text = str(report.longrepr)
    if failures:
        state.infra.append((report.nodeid, "; ".join(f"{n}: {e}" for n, e in failures.items())))
    elif any(marker in text for marker in _CONNECTION_ERRORS):
        state.infra.append((report.nodeid, "a connection to a service failed during the test"))
    elif report.nodeid not in state.failed:
        state.failed.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash[STATE_KEY]
    tr = terminalreporter
    if tr.stats.get("passed") is None and tr.stats.get("failed") is None and exitstatus == 5:
        tr.write_sep("=", "realstack: no tests ran — that is a failure, not a pass", red=True)
    if not state.active:
        return
    tr.write_sep("=", "realstack summary")
    if state.infra:
        tr.write_line(
            f"infrastructure failures ({len(state.infra)}): service down, crashed or unreachable",
            red=True,
        )
        for nodeid, why in state.infra:
            tr.write_line(f"  {nodeid}: {why}")
    if state.failed:
        tr.write_line(f"test failures ({len(state.failed)}):", red=True)
        for nodeid in state.failed:
            tr.write_line(f"  {nodeid}")
    if state.skipped:
        tr.write_line(
            f"skips in strict suites, counted as failures ({len(state.skipped)}):", red=True
        )
        for nodeid in state.skipped:
            tr.write_line(f"  {nodeid}")
    reports = [
        r
        for key in ("passed", "failed")
        for r in tr.stats.get(key, [])
        if getattr(r, "when", "") == "call"
    ]
    slowest = sorted(reports, key=lambda r: r.duration, reverse=True)[:5]
    if slowest:
        tr.write_line("slowest tests:")
        for r in slowest:
            tr.write_line(f"  {r.duration:7.3f}s {r.nodeid}")

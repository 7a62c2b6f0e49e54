"""Test sessions. `nox` with no arguments runs what CI runs, fail-fast order.

Inner loop: `nox -R -s unit` reuses the session's virtualenv and skips the install.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "unit", "process", "integration"]
nox.options.stop_on_first_error = True
nox.options.error_on_missing_interpreters = True

PYTEST = ("pytest", "-p", "no:valkey")


def _install(session: nox.Session) -> None:
    # uv skips bytecode compilation by default; with PYTHONDONTWRITEBYTECODE set (as on CI
    # machines) every import would then compile from source, slowing every CLI call.
    session.install("-e", ".[dev]", env={"UV_COMPILE_BYTECODE": "1"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff==0.17.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src, tests, scripts and this file."""
    _install(session)
    session.run("mypy")


@nox.session
def unit(session: nox.Session) -> None:
    """Pure unit tests: manifest, graph, waiting, env contract (no servers)."""
    _install(session)
    session.run(*PYTEST, "tests/unit", *session.posargs)


@nox.session
def process(session: nox.Session) -> None:
    """Real processes: spawn, group kill, escalation, ownership, readiness failures."""
    _install(session)
    session.run(*PYTEST, "tests/process", *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    """Real PostgreSQL and Redis started through realstack, and the CLI end to end."""
    _install(session)
    session.run(*PYTEST, "tests/integration", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Cold/warm start and stop times beside the raw binaries (prints figures)."""
    _install(session)
    session.run("python", "scripts/bench.py", *session.posargs)

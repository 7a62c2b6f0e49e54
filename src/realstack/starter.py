"""The files ``realstack init`` writes, as text: the starter manifest, env files, ``tasks.py``
and a noxfile with an e2e session.

Kept as plain templates so what a project gets is readable in one place. The manifest must
load with realstack's own loader for both envs (a unit test holds it to that).
"""

from __future__ import annotations

import json

from realstack.detect import App, Findings

# test and dev side by side: distinct ports (the seeds' defaults); test is fast, dev durable.
PORTS = {
    "test": {"POSTGRES_PORT": 5434, "REDIS_PORT": 6381, "APP_PORT": 8001},
    "dev": {"POSTGRES_PORT": 5433, "REDIS_PORT": 6380, "APP_PORT": 8000},
}
ENVS = tuple(PORTS)

TASKS_PY = '''"""Invoke entry point: realstack's task namespace (services.*, env.*)."""

from realstack.tasks import namespace as ns  # noqa: F401
'''

_HEAD = """
# ---------------------------------------------------------------------------
# The realstack stack (written by `realstack init`): PostgreSQL, Redis{and_app}.
# `${{NAME}}` / `${{NAME:-default}}` come from envs/<env>.env, overridden by the environment.
# `invoke services.start --wait` starts it; `invoke services.stop` stops what it started.
# ---------------------------------------------------------------------------
[tool.realstack]
default_env = "test"

[tool.realstack.services.postgres]
kind = "postgres"
port = "${{POSTGRES_PORT}}"
user = "${{POSTGRES_USER}}"
password = "${{POSTGRES_PASSWORD}}"
database = "${{POSTGRES_DB}}"
startup_timeout = 30

[tool.realstack.services.redis]
kind = "redis"
port = "${{REDIS_PORT}}"
database = "${{REDIS_DB:-0}}"
startup_timeout = 15
"""

_MIGRATE = """
# alembic.ini is here: migrations can run as a one-shot task before the app starts (env.py
# reading DATABASE_URL). Uncomment, and make the app wait for it to complete:
#   depends_on = ["postgres", "redis", { service = "migrate", condition = "completed" }]
# [tool.realstack.services.migrate]
# kind = "task"
# command = ["{python}", "-m", "alembic", "upgrade", "head"]
# depends_on = ["postgres"]
# inputs = ["alembic/versions/*.py", "alembic/env.py"]   # new migrations run it again
"""


def _app_lines(app: App) -> list[str]:
    command = ["{python}", "-m", "uvicorn", app.target, "--host", "{host}", "--port", "{port}"]
    if app.health is not None:
        probe = f'{{ kind = "http", path = "{app.health}", status = 200 }}'
    else:
        probe = '{ kind = "tcp" }  # no health route found: add one and probe it over http'
    return [
        f"# found in {app.source}",
        "[tool.realstack.services.app]",
        'kind = "process"',
        'port = "${APP_PORT}"',
        f"command = {json.dumps(command)}",
        f"cwd = {json.dumps(app.cwd)}",
        'depends_on = ["postgres", "redis"]',
        f"probe = {probe}",
        "startup_timeout = 20",
        'exports = { APP_SERVICE_URL = "{url}" }  # what http_client("app") and other services use',
    ]


def _example_app(script: str | None) -> list[str]:
    """A commented-out process service: no ASGI app was found to run."""
    target = f"{script.partition(':')[0].strip()}:app" if script else "your_package.main:app"
    why = f"[project.scripts] has {script!r}, but no ASGI app was found in it" if script else ""
    lines = [
        f"# {why or 'no app found (main.py, app/main.py, [project.scripts])'}: your app as a",
        "# process service, with the env contract (DATABASE_URL, REDIS_URL …) in its environment:",
        *(f"# {line}" for line in _app_lines(App("", target, ".", "/health"))[1:]),
    ]
    return lines


def manifest(found: Findings) -> str:
    """The ``[tool.realstack]`` section appended to (or making up) pyproject.toml."""
    text = _HEAD.format(and_app=" and the app" if found.app else "")
    if found.alembic:
        text += _MIGRATE
    lines = _app_lines(found.app) if found.app else _example_app(found.script)
    return text + "\n" + "\n".join(lines) + "\n"


def env_file(env: str, found: Findings) -> str:
    """``envs/<env>.env``: ports and throwaway credentials; nothing secret lives here."""
    ports = PORTS[env]
    durable = env != "test"
    how = "durable data" if durable else "a throwaway, fast stack (no fsync) for test runs"
    return "\n".join(
        [
            f"# realstack `{env}` env: {how}.",
            "# Ports differ between test and dev so both stacks run side by side. Real secrets",
            "# never live here: the environment overrides every value of this file.",
            f"POSTGRES_PORT={ports['POSTGRES_PORT']}",
            f"POSTGRES_USER={env}_user",
            f"POSTGRES_PASSWORD={env}_pass",
            f"POSTGRES_DB={found.name}_{env}",
            f"REDIS_PORT={ports['REDIS_PORT']}",
            f"REDIS_DB={1 if env == 'test' else 0}",
            f"APP_PORT={ports['APP_PORT']}",
            "",
        ]
    )


_NOXFILE = '''"""Test sessions against the real stack (written by `realstack init`{copy}).

`nox -s e2e` starts what is missing of the `test` stack, runs tests/e2e against it and then
stops only what it started; `nox -s e2e -- --reuse-stack` leaves the stack running.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import nox

ENV = "test"


def _ours(session: nox.Session) -> set[str]:
    status = session.run("invoke", "services.status", f"--env={{ENV}}", "--json", silent=True)
    return {{r["name"] for r in json.loads(str(status))["services"] if r["state"] == "ours"}}


@contextmanager
def _stack(session: nox.Session) -> Iterator[None]:
    """The stack up for the suite; afterwards stop only what this session started."""
    before = _ours(session)
    session.run("invoke", "services.start", "--wait", f"--env={{ENV}}")
    started = sorted(_ours(session) - before)
    try:
        yield
    finally:
        if started and "--reuse-stack" not in session.posargs:
            only = ",".join(started)
            session.run("invoke", "services.stop", f"--env={{ENV}}", f"--only={{only}}")


# The environment nox runs from: where realstack, pytest and the project are installed.
@nox.session(venv_backend="none")
def e2e(session: nox.Session) -> None:
    """tests/e2e against the real `test` stack (`nox -s e2e -- -x` passes pytest options)."""
    with _stack(session):
        session.run("pytest", "tests/e2e", *[a for a in session.posargs if a != "--reuse-stack"])
'''


def noxfile(found: Findings, *, beside_own: bool) -> str:
    """The nox sessions; ``beside_own``: a snippet next to the project's own noxfile.py."""
    return _NOXFILE.format(
        copy="; copy the sessions into noxfile.py, or run `nox -f noxfile.realstack.py`"
        if beside_own
        else "",
    )


E2E_TEST = '''"""Starter e2e tests (written by `realstack init`): the real stack answers.
Replace them with your own; everything under tests/e2e is strict (a skip fails, a test that
reaches no service fails)."""


def test_the_database_answers(pg_conn):
    assert pg_conn.execute("SELECT 1").fetchone() == (1,)


def test_redis_answers(redis_client):
    assert redis_client.ping()
'''

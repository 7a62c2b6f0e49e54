"""A real third-party app on a real PostgreSQL: the backend of fastapi/full-stack-fastapi-template
(FastAPI + SQLModel + alembic, MIT; vendored under ``tests/fixtures/thirdparty``, see its
VENDORED.md), run the way its own ``prestart.sh`` chain would, but as realstack services:
``alembic upgrade head`` as a one-shot ``migrate`` task, uvicorn as a ``backend`` process that
starts only once the task has completed.

The app is configured only through its own environment variables (``POSTGRES_SERVER`` …),
which the manifest fills from the ``postgres`` service's fields. What the tests look at is the
app's own evidence (alembic's ``alembic_version`` and log, the tables, its HTTP API) beside
realstack's progress lines.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import uuid
from pathlib import Path
from typing import LiteralString

import httpx
import psycopg
import pytest

from conftest import Project
from integration._support import distinct_free_ports, processes_owned_by
from integration.test_cli import TASKS_PY, invoke, succeeded
from realstack.envfile import contract

pytestmark = pytest.mark.integration

VENDORED = Path(__file__).resolve().parents[1] / "fixtures" / "thirdparty"
APP = VENDORED / "full_stack_fastapi_template" / "backend"
VERSIONS = "backend/app/alembic/versions"  # in the project
HEAD = "fe56fa70289e"  # the newest of the vendored revisions (add_created_at_to_user_and_item)
REVISIONS = 5
TABLES = {"alembic_version", "user", "item"}
API = "/api/v1"
HEALTH = f"{API}/utils/health-check/"
# What the app imports (module → distribution): a missing one fails the run, never skips it.
REQUIRED = {
    "fastapi": "fastapi==0.165.0",
    "sqlmodel": "sqlmodel==0.0.50",
    "sqlalchemy": "SQLAlchemy==2.1.9",
    "alembic": "alembic==1.20.1",
    "email_validator": "email-validator==2.4.0",
    "pwdlib": "pwdlib[argon2,bcrypt]==0.3.1",
    "argon2": "pwdlib[argon2,bcrypt]==0.3.1",
    "bcrypt": "pwdlib[argon2,bcrypt]==0.3.1",
    "multipart": "python-multipart==0.0.34",
    "pydantic_settings": "pydantic-settings==2.14.1",
    "jinja2": "Jinja2==3.1.6",
    "jwt": "PyJWT==2.15.1",
    "uvicorn": "uvicorn==0.54.0",
}
# The app builds its database URL from parts without quoting them (pydantic's
# PostgresDsn.build), so its password must not need URL quoting.
CREDENTIALS = {"POSTGRES_USER": "fastapi", "POSTGRES_PASSWORD": "tpl-s3cret", "POSTGRES_DB": "app"}
# The app reads its settings (app/core/config.py) from the environment: the database from the
# postgres service's fields, and non-default secrets (its "changethis" defaults only warn in
# ENVIRONMENT=local). The task and the process each need them: the same table twice.
MANIFEST = """
[tool.realstack.services.postgres]
kind = "postgres"
port = "${POSTGRES_PORT}"
user = "${POSTGRES_USER}"
password = "${POSTGRES_PASSWORD}"
database = "${POSTGRES_DB}"
durable = false

[tool.realstack.services.migrate]
kind = "task"
command = ["{python}", "-m", "alembic", "upgrade", "head"]
cwd = "backend"
depends_on = ["postgres"]
inputs = ["backend/app/alembic/versions/*.py", "backend/app/alembic/env.py"]

[tool.realstack.services.migrate.env]
POSTGRES_SERVER = "{postgres.host}"
POSTGRES_PORT = "{postgres.port}"
POSTGRES_USER = "{postgres.user}"
POSTGRES_PASSWORD = "{postgres.password}"
POSTGRES_DB = "{postgres.database}"
PROJECT_NAME = "Full Stack FastAPI Project"
SECRET_KEY = "not-the-default-secret"
FIRST_SUPERUSER = "admin@example.com"
FIRST_SUPERUSER_PASSWORD = "not-the-default-password"

[tool.realstack.services.backend]
kind = "process"
port = "${BACKEND_PORT}"
command = [
  "{python}", "-m", "uvicorn", "app.main:app", "--host", "{host}", "--port", "{port}",
]
cwd = "backend"
probe = { kind = "http", path = "/api/v1/utils/health-check/" }
depends_on = ["postgres", { service = "migrate", condition = "completed" }]

[tool.realstack.services.backend.env]
POSTGRES_SERVER = "{postgres.host}"
POSTGRES_PORT = "{postgres.port}"
POSTGRES_USER = "{postgres.user}"
POSTGRES_PASSWORD = "{postgres.password}"
POSTGRES_DB = "{postgres.database}"
PROJECT_NAME = "Full Stack FastAPI Project"
SECRET_KEY = "not-the-default-secret"
FIRST_SUPERUSER = "admin@example.com"
FIRST_SUPERUSER_PASSWORD = "not-the-default-password"
"""
BROKEN = f'''"""a migration that cannot run

Revision ID: b0b0b0b0b0b0
Revises: {HEAD}
"""
from alembic import op

revision = "b0b0b0b0b0b0"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TABLE nowhere ADD COLUMN x int")


def downgrade():
    pass
'''


ADDED = f'''"""add a note to items

Revision ID: c0ffee000001
Revises: {HEAD}
"""
import sqlalchemy as sa
from alembic import op

revision = "c0ffee000001"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("item", sa.Column("note", sa.String(length=255), nullable=True))


def downgrade():
    op.drop_column("item", "note")
'''


def require_app_dependencies() -> None:
    missing = sorted({d for m, d in REQUIRED.items() if importlib.util.find_spec(m) is None})
    if missing:
        pytest.fail(
            "the vendored full-stack-fastapi-template backend needs: pip install "
            + " ".join(f"'{d}'" for d in missing),
            pytrace=False,
        )


@pytest.fixture
def app(project: Project) -> Project:
    """A project holding a copy of the vendored backend, with the manifest above."""
    require_app_dependencies()
    postgres_port, backend_port = distinct_free_ports(2)
    ports = {"POSTGRES_PORT": str(postgres_port), "BACKEND_PORT": str(backend_port)}
    project.write(MANIFEST, {**CREDENTIALS, **ports})
    (project.root / "tasks.py").write_text(TASKS_PY)
    shutil.copytree(APP, project.root / "backend", ignore=shutil.ignore_patterns("__pycache__"))
    return project


def backend_url(project: Project) -> str:
    return f"http://127.0.0.1:{project.stack().service('backend').port}"


def query(project: Project, sql: LiteralString) -> list[tuple[object, ...]]:
    with psycopg.connect(contract(project.stack())["DATABASE_URL"]) as conn:
        return conn.execute(sql).fetchall()


def schema(project: Project) -> tuple[set[str], list[str]]:
    """The public tables and the revision(s) in alembic_version."""
    tables = {
        str(r[0])
        for r in query(project, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    revisions = (
        [str(r[0]) for r in query(project, "SELECT version_num FROM alembic_version")]
        if "alembic_version" in tables
        else []
    )
    return tables, revisions


def migrate_log(project: Project) -> str:
    return (project.state / "logs" / "migrate.log").read_text()


def alembic_runs(log: str) -> int:
    """Runs of ``alembic upgrade``: each announces its migration context once."""
    return log.count("Context impl PostgresqlImpl.")


def backend_pid(project: Project) -> int:
    status = json.loads(succeeded(invoke(project, "services.status", "--json")).stdout)
    rows = {row["name"]: row for row in status["services"]}
    pid = rows["backend"]["pid"]
    assert isinstance(pid, int), rows["backend"]
    return pid


def progress_of(output: str, service: str) -> list[str]:
    """``service``'s progress lines (``  [  0.16s] name  event  detail``) in a command's output."""
    return [
        line.split("]", 1)[1].strip()
        for line in output.splitlines()
        if line.lstrip().startswith("[") and line.split("]", 1)[1].split()[:1] == [service]
    ]


def test_one_start_migrates_then_serves_the_api(app: Project) -> None:
    done = succeeded(invoke(app, "services.start", "--wait"))

    events = [(line.split()[0], line.split()[1]) for line in progress_of(done.stdout, "migrate")]
    events += [(line.split()[0], line.split()[1]) for line in progress_of(done.stdout, "backend")]
    # a busy machine adds "still waiting" ticks (every 2 s of readiness); the order is the point
    events = [event for event in events if event[1] != "waiting"]
    # in this order: the backend is spawned only once alembic has exited 0
    assert events == [
        ("migrate", "starting"),
        ("migrate", "completed"),
        ("backend", "starting"),
        ("backend", "ready"),
    ]
    tables, revisions = schema(app)
    assert tables >= TABLES
    assert revisions == [HEAD]
    log = migrate_log(app)
    assert alembic_runs(log) == 1
    assert log.count("Running upgrade") == REVISIONS
    assert f"Running upgrade 1a31ce608336 -> {HEAD}" in log

    email = f"user-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=backend_url(app), timeout=10) as http:
        assert http.get(HEALTH).json() is True
        signup = http.post(
            f"{API}/users/signup",
            json={"email": email, "password": "long-enough-pw", "full_name": "Ada"},
        )
        assert signup.status_code == 200, signup.text
        login = http.post(
            f"{API}/login/access-token",
            data={"username": email, "password": "long-enough-pw"},
        )
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        item = http.post(f"{API}/items/", json={"title": "vendored"}, headers=auth)
        assert item.status_code == 200, item.text
        me = http.get(f"{API}/users/me", headers=auth).json()
        items = http.get(f"{API}/items/", headers=auth).json()

    assert (me["email"], me["full_name"]) == (email, "Ada")
    assert [(i["title"], i["owner_id"]) for i in items["data"]] == [("vendored", me["id"])]
    stored = query(app, 'SELECT u.email, i.title FROM item i JOIN "user" u ON u.id = i.owner_id')
    assert stored == [(email, "vendored")]


def test_a_restart_of_the_backend_does_not_run_unchanged_migrations(app: Project) -> None:
    succeeded(invoke(app, "services.start", "--wait"))
    before = backend_pid(app)

    again = succeeded(invoke(app, "services.restart", "backend"))
    then = succeeded(invoke(app, "services.start", "--wait"))

    assert "migrate      up-to-date" in again.stdout
    assert "migrate      up-to-date" in then.stdout
    assert backend_pid(app) != before
    assert alembic_runs(migrate_log(app)) == 1
    assert schema(app)[1] == [HEAD]
    assert httpx.get(backend_url(app) + HEALTH, timeout=10).status_code == 200


def test_a_new_revision_runs_the_task_again_and_applies_only_it(app: Project) -> None:
    succeeded(invoke(app, "services.start", "--wait"))
    (app.root / VERSIONS / "c0ffee000001_add_note.py").write_text(ADDED)

    done = succeeded(invoke(app, "services.start", "--wait"))

    assert "migrate      completed  exit 0" in done.stdout
    assert schema(app)[1] == ["c0ffee000001"]
    columns = query(
        app, "SELECT column_name FROM information_schema.columns WHERE table_name = 'item'"
    )
    assert ("note",) in columns
    log = migrate_log(app)
    assert alembic_runs(log) == 2
    assert log.count("Running upgrade") == REVISIONS + 1
    assert log.rstrip().endswith(f"Running upgrade {HEAD} -> c0ffee000001, add a note to items")
    assert httpx.get(backend_url(app) + HEALTH, timeout=10).status_code == 200


def test_a_broken_migration_fails_the_start_as_the_task_and_keeps_the_backend(
    app: Project,
) -> None:
    succeeded(invoke(app, "services.start", "--wait"))
    running = backend_pid(app)
    (app.root / VERSIONS / "b0b0b0b0b0b0_broken.py").write_text(BROKEN)

    done = invoke(app, "services.start", "--wait")

    assert done.returncode == 1, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "migrate: task failed: exited with code 1" in done.stderr
    quoted = [line for line in done.stderr.splitlines() if line.startswith("    | ")]
    own = [line for line in done.stderr.splitlines() if not line.startswith("    | ")]
    assert any('relation "nowhere" does not exist' in line for line in quoted)  # alembic's
    assert "Traceback" not in done.stdout + "\n".join(own), "realstack printed a traceback"
    log = migrate_log(app)
    assert alembic_runs(log) == 2
    assert f"Running upgrade {HEAD} -> b0b0b0b0b0b0" in log
    assert schema(app)[1] == [HEAD]  # alembic rolled the failed revision back
    # the backend that served the good schema still does: not restarted, not stopped
    assert progress_of(done.stdout, "backend") == []
    assert backend_pid(app) == running
    assert httpx.get(backend_url(app) + HEALTH, timeout=10).status_code == 200
    status = succeeded(invoke(app, "services.status"))
    assert "failed (exit 1)" in status.stdout


def test_stop_leaves_nothing_running(app: Project) -> None:
    succeeded(invoke(app, "services.start", "--wait"))
    assert processes_owned_by(app.root)

    succeeded(invoke(app, "services.stop"))

    assert processes_owned_by(app.root) == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(backend_url(app) + HEALTH, timeout=5)
    status = json.loads(succeeded(invoke(app, "services.status", "--json")).stdout)
    assert {row["name"]: row["state"] for row in status["services"]} == dict.fromkeys(
        ("postgres", "migrate", "backend"), "down"
    )

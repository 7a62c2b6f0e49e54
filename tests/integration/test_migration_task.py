"""A migration as a one-shot task, on a real PostgreSQL: it runs before the app, once, again
only when a migration file is added, and a broken one fails the start as the task.

The project's own tiny migration runner applies ``migrations/*.sql`` in order and notes each
run in ``runs.log``; the app refuses to start (exit 2) unless the migrated table exists, so a
start that raced the migration would fail here rather than pass by luck.
"""

from __future__ import annotations

import shutil
import textwrap

import psycopg
import pytest

from conftest import Project
from integration._support import MANIFEST, NATIVE_MANIFEST, write_manifest
from integration.test_cli import TASKS_PY, failed_cleanly, invoke, succeeded
from realstack import pgstorage
from realstack.envfile import contract

pytestmark = pytest.mark.integration

MIGRATE = """
import os, pathlib, sys
import psycopg

runs = pathlib.Path("runs.log")
runs.write_text(runs.read_text() + "run\\n" if runs.exists() else "run\\n")
with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS applied (name text PRIMARY KEY)")
    done = {r[0] for r in conn.execute("SELECT name FROM applied")}
    for path in sorted(pathlib.Path("migrations").glob("*.sql")):
        if path.name not in done:
            print(f"applying {path.name}", flush=True)
            try:
                conn.execute(path.read_text())
            except psycopg.Error as exc:
                print(f"migration {path.name} failed: {exc}", file=sys.stderr, flush=True)
                sys.exit(1)
            conn.execute("INSERT INTO applied VALUES (%s)", (path.name,))
"""
APP = """
import os, sys
import psycopg
from http.server import BaseHTTPRequestHandler, HTTPServer

try:
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        conn.execute("SELECT count(*) FROM users")
except psycopg.Error as exc:
    print(f"not migrated: {exc}", file=sys.stderr, flush=True)
    sys.exit(2)

class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")

HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""
SERVICES = """
[tool.realstack.services.migrate]
kind = "task"
command = ["{python}", "migrate.py"]
depends_on = ["postgres"]
inputs = ["migrations/*.sql"]

[tool.realstack.services.app]
kind = "process"
port = "${APP_PORT}"
command = ["{python}", "app.py", "{port}"]
probe = { kind = "http", path = "/" }
depends_on = ["postgres", { service = "migrate", condition = "completed" }]
"""


@pytest.fixture
def app(project: Project) -> Project:
    write_manifest(project, MANIFEST + SERVICES, "APP_PORT")
    (project.root / "tasks.py").write_text(TASKS_PY)
    (project.root / "migrate.py").write_text(textwrap.dedent(MIGRATE))
    (project.root / "app.py").write_text(textwrap.dedent(APP))
    (project.root / "migrations").mkdir()
    (project.root / "migrations" / "001_users.sql").write_text(
        "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL)"
    )
    return project


def runs(project: Project) -> int:
    return (project.root / "runs.log").read_text().count("run")


def columns(project: Project) -> set[str]:
    with psycopg.connect(contract(project.stack())["DATABASE_URL"]) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"
        ).fetchall()
    return {r[0] for r in rows}


def test_one_start_migrates_then_starts_the_app(app: Project) -> None:
    done = succeeded(invoke(app, "services.start", "--wait"))

    assert "migrate      completed  exit 0" in done.stdout
    assert columns(app) == {"id", "email"}
    assert runs(app) == 1
    status = succeeded(invoke(app, "services.status"))
    assert "up to date" in status.stdout


def test_a_restart_of_the_app_does_not_run_unchanged_migrations(app: Project) -> None:
    succeeded(invoke(app, "services.start", "--wait"))

    again = succeeded(invoke(app, "services.restart", "app"))
    succeeded(invoke(app, "services.start", "--wait"))

    assert "migrate      up-to-date" in again.stdout
    assert runs(app) == 1


def test_a_new_migration_file_runs_the_task_again(app: Project) -> None:
    succeeded(invoke(app, "services.start", "--wait"))
    (app.root / "migrations" / "002_name.sql").write_text("ALTER TABLE users ADD name text")

    done = succeeded(invoke(app, "services.start", "--wait"))

    assert "applying 002_name.sql" not in done.stdout  # its output goes to its log
    assert runs(app) == 2
    assert columns(app) == {"id", "email", "name"}


def test_a_broken_migration_fails_the_start_as_the_task_with_its_log(app: Project) -> None:
    (app.root / "migrations" / "002_broken.sql").write_text("ALTER TABLE nowhere ADD x int")

    stderr = failed_cleanly(invoke(app, "services.start", "--wait"), 1)

    assert "migrate: task failed: exited with code 1" in stderr
    assert 'relation "nowhere" does not exist' in stderr
    assert not (app.state / "logs" / "app.log").exists()  # the app never ran
    status = succeeded(invoke(app, "services.status"))
    assert "failed (exit 1)" in status.stdout


def test_a_cluster_lost_from_memory_is_made_again_and_migrated_again(app: Project) -> None:
    """A reboot clears the tmpfs a non-durable cluster lives in: the next start makes a new
    one, and the migration runs again (its earlier run's work went with the old cluster)."""
    write_manifest(app, NATIVE_MANIFEST + SERVICES, "APP_PORT")
    succeeded(invoke(app, "services.start", "--wait"))
    succeeded(invoke(app, "services.stop"))
    memory = pgstorage.memory_cluster(app.stack().instance_id, "postgres")
    shutil.rmtree(memory)  # what a reboot does to /dev/shm

    done = succeeded(invoke(app, "services.start", "--wait"))

    assert "migrate      completed  exit 0" in done.stdout
    assert runs(app) == 2
    assert columns(app) == {"id", "email"}
    assert (memory / "PG_VERSION").is_file()


def test_a_python_task_stopped_at_its_timeout_leaves_what_it_printed_in_its_log(
    app: Project,
) -> None:
    """Its output goes to a file, which Python block-buffers: without PYTHONUNBUFFERED, which
    realstack gives its commands, the line a hung migration printed died with it."""
    timed = SERVICES.replace('inputs = ["migrations/*.sql"]', "startup_timeout = 2")
    write_manifest(app, MANIFEST + timed, "APP_PORT")
    (app.root / "migrate.py").write_text(
        "import time\nprint('migrating: step 1 of 2')\ntime.sleep(60)\n"
    )

    stderr = failed_cleanly(invoke(app, "services.start", "--wait"), 1)

    assert "migrate: task failed: still running after 2.0s" in stderr
    assert "migrating: step 1 of 2" in stderr
    status = succeeded(invoke(app, "services.status"))
    assert "timed out" in status.stdout and "the next start runs it" in status.stdout, status


def test_a_restart_of_postgres_says_the_app_on_it_was_not_restarted(app: Project) -> None:
    """Its connections to PostgreSQL were cut: an app that does not reconnect needs its own
    restart, and the restart says so (a task is no running user of it)."""
    succeeded(invoke(app, "services.start", "--wait"))

    done = succeeded(invoke(app, "services.restart", "postgres"))

    assert "note: app depends on postgres and was not restarted" in done.stdout
    assert "migrate" not in done.stdout.split("note:", 1)[1]
    succeeded(invoke(app, "services.stop", "--only", "app"))
    quiet = succeeded(invoke(app, "services.restart", "postgres"))
    assert "note:" not in quiet.stdout  # an app that is not running was cut off from nothing

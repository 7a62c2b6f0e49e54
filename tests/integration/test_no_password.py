"""A PostgreSQL service without a password in the manifest is usable: its user logs in over
TCP (the cluster is local and bound to the manifest's host)."""

from __future__ import annotations

import psycopg
import pytest

from conftest import Project, free_port
from realstack.envfile import contract
from realstack.errors import ServiceError

pytestmark = pytest.mark.integration


def app_db(extra: str = "") -> str:
    """A native PostgreSQL ``db`` whose user and database are ``app``, plus ``extra`` keys."""
    return (
        f'provider = "native"\n[tool.realstack.services.db]\nkind = "postgres"\n'
        f'port = {free_port()}\nuser = "app"\ndatabase = "app"\n{extra}'
    )


def logs_in_as_app(project: Project) -> bool:
    with psycopg.connect(contract(project.stack())["DATABASE_URL"]) as conn:
        return conn.execute("SELECT current_user").fetchone() == ("app",)


def test_a_postgres_without_a_password_starts_healthy_and_takes_logins(project: Project) -> None:
    project.write(app_db())

    project.start().raise_for_errors()

    assert logs_in_as_app(project)


def test_a_password_changed_since_the_cluster_was_made_fails_at_once_and_says_how_to_mend(
    project: Project,
) -> None:
    """The kept cluster keeps the password it was made with: a start with another one fails
    at the server's first answer (not a probe timeout), naming ``--purge``; after it, the new
    password logs in."""
    manifest = app_db('password = "${DB_PASSWORD}"\nstartup_timeout = 60\n')
    project.write(manifest, {"DB_PASSWORD": "first-pw"})
    project.start().raise_for_errors()
    project.stop().raise_for_errors()  # data kept
    project.write(manifest, {"DB_PASSWORD": "second-pw"})

    [result] = project.start().results

    assert result.action == "failed"
    assert type(result.error) is ServiceError, result.error  # not a ProbeTimeout: no wait
    message = str(result.error)
    assert "password authentication failed" in message
    assert "`invoke services.stop --only db --purge`" in message
    assert "second-pw" not in message
    project.stop(purge=True).raise_for_errors()
    project.start().raise_for_errors()
    assert logs_in_as_app(project)

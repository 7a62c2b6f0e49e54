"""A PostgreSQL service without a password in the manifest is usable: its user logs in over
TCP (the cluster is local and bound to the manifest's host)."""

from __future__ import annotations

import psycopg
import pytest

from conftest import Project, free_port
from realstack.envfile import contract

pytestmark = pytest.mark.integration


def test_a_postgres_without_a_password_starts_healthy_and_takes_logins(project: Project) -> None:
    project.write(
        f"""
provider = "native"
[tool.realstack.services.db]
kind = "postgres"
port = {free_port()}
user = "app"
database = "app"
"""
    )

    project.start().raise_for_errors()

    with psycopg.connect(contract(project.stack())["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("app",)

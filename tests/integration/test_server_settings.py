"""Server settings from the manifest are in effect on the real servers: what psycopg's and
redis-py's own suites need (``max_prepared_transactions``, ``enable-debug-command``), a
changed setting restarts the server, and a wrong one fails the start with the server's word."""

from __future__ import annotations

import re

import psycopg
import pytest
import redis

from conftest import Project
from integration._support import write_manifest
from realstack.envfile import contract
from realstack.errors import ConfigError
from realstack.status import status

pytestmark = pytest.mark.integration

MANIFEST = """
provider = "native"

[tool.realstack.services.postgres]
kind = "postgres"
port = "${POSTGRES_PORT}"
user = "${POSTGRES_USER}"
password = "${POSTGRES_PASSWORD}"
database = "${POSTGRES_DB}"
durable = false
settings = { max_prepared_transactions = "${PREPARED:-10}", jit = false }

[tool.realstack.services.redis]
kind = "redis"
port = "${REDIS_PORT}"
durable = false
settings = { enable-debug-command = "yes", maxmemory-policy = "allkeys-lru" }
"""


@pytest.fixture
def configured(project: Project) -> Project:
    return write_manifest(project, MANIFEST)


def show(project: Project, setting: str) -> str:
    with psycopg.connect(contract(project.stack())["DATABASE_URL"]) as conn:
        row = conn.execute(f"SHOW {setting}").fetchone()
    assert row is not None
    return str(row[0])


def test_postgres_and_redis_run_with_the_manifests_settings(configured: Project) -> None:
    configured.start().raise_for_errors()

    assert show(configured, "max_prepared_transactions") == "10"
    assert show(configured, "jit") == "off"
    with redis.Redis.from_url(contract(configured.stack())["REDIS_URL"]) as client:
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        assert client.execute_command("DEBUG", "SLEEP", "0") == b"OK"  # refused without


def test_a_changed_setting_restarts_the_server_with_it(configured: Project) -> None:
    configured.start().raise_for_errors()
    env = configured.root / "envs" / "test.env"
    env.write_text(env.read_text() + "PREPARED=20\n")

    report = configured.start()

    report.raise_for_errors()
    assert {r.name: r.action.value for r in report.results}["postgres"] == "restarted"
    assert show(configured, "max_prepared_transactions") == "20"


def test_a_misspelt_setting_is_refused_before_the_running_server_is_touched(
    configured: Project,
) -> None:
    configured.start().raise_for_errors()
    before = {row.name: row.pid for row in status(configured.stack())}
    manifest = (configured.root / "pyproject.toml").read_text()
    (configured.root / "pyproject.toml").write_text(
        manifest.replace("max_prepared_transactions", "max_prepared_transaction")
    )

    with pytest.raises(ConfigError) as err:
        configured.start()

    assert err.value.path == "tool.realstack.services.postgres.settings.max_prepared_transaction"
    assert "did you mean max_prepared_transactions?" in str(err.value)
    after = {row.name: (row.state, row.pid) for row in status(configured.stack())}
    assert after["postgres"] == ("ours", before["postgres"])  # still the one that worked


def test_status_names_the_server_binary_and_version_that_runs(configured: Project) -> None:
    configured.start().raise_for_errors()

    rows = {row.name: row for row in status(configured.stack())}

    assert re.fullmatch(r"PostgreSQL 1\d\.\d+ \(/\S+/postgres\)", rows["postgres"].server or "")
    assert re.fullmatch(r"(Valkey|Redis) \d\S* \(/\S+-server\)", rows["redis"].server or "")

"""A deployed env (REALSTACK_DEPLOYED): realstack reads where its services are from the env
and never starts, stops, restarts or purges anything of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from realstack import orchestrator, runtime
from realstack.errors import ConfigError
from realstack.manifest import load_stack
from realstack.results import Action
from realstack.status import status

MANIFEST = """
[tool.realstack]
[tool.realstack.services.postgres]
kind = "postgres"
port = "${POSTGRES_PORT}"
user = "${POSTGRES_USER}"
database = "app"

[tool.realstack.services.backend]
kind = "process"
port = "${BACKEND_PORT}"
command = ["{python}", "-m", "backend", "--port", "{port}"]
depends_on = ["postgres"]
probe = { kind = "http", path = "/health" }
exports = { BACKEND_SERVICE_URL = "http://{host}:{port}", WEBSOCKET_URL = "ws://{host}:{port}/ws" }
"""
STAGING = """REALSTACK_DEPLOYED=true
BACKEND_SERVICE_URL=https://api.staging.example.invalid
WEBSOCKET_URL=wss://api.staging.example.invalid/ws
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(MANIFEST)
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "test.env").write_text("POSTGRES_PORT=5434\nPOSTGRES_USER=u\n")
    (tmp_path / "envs" / "staging.env").write_text(STAGING)
    return tmp_path


def test_a_deployed_env_needs_only_the_urls_of_what_it_offers(project: Path) -> None:
    stack = load_stack(project, "staging", environ={})

    assert stack.deployed
    backend = stack.service("backend")
    assert backend.external == "https://api.staging.example.invalid"
    assert (backend.host, backend.port) == ("api.staging.example.invalid", 443)
    assert backend.exports == {
        "BACKEND_SERVICE_URL": "https://api.staging.example.invalid",
        "WEBSOCKET_URL": "wss://api.staging.example.invalid/ws",
    }
    assert stack.service("postgres").external == ""  # not offered: no local stand-in


def test_its_contract_is_what_its_env_gives_and_never_a_local_address(project: Path) -> None:
    stack = load_stack(project, "staging", environ={})

    contract = runtime.contract(stack)

    assert "DATABASE_URL" not in contract
    assert contract["BACKEND_SERVICE_URL"] == "https://api.staging.example.invalid"


def test_the_environment_points_it_elsewhere(project: Path) -> None:
    stack = load_stack(
        project, "staging", environ={"BACKEND_SERVICE_URL": "https://127.0.0.1:8443"}
    )

    assert (stack.service("backend").host, stack.service("backend").port) == ("127.0.0.1", 8443)


def test_a_secret_in_a_deployed_env_file_is_refused(project: Path) -> None:
    env_file = project / "envs" / "staging.env"
    env_file.write_text(STAGING + "STAGING_TEST_JWT_TOKEN=eyJ-not-in-git\n")

    with pytest.raises(ConfigError) as err:
        load_stack(project, "staging", environ={})

    assert err.value.path == "envs/staging.env: STAGING_TEST_JWT_TOKEN"
    assert "eyJ-not-in-git" not in str(err.value)


def test_a_secret_from_the_environment_is_fine(project: Path) -> None:
    stack = load_stack(project, "staging", environ={"STAGING_TEST_JWT_TOKEN": "eyJ-env"})

    assert stack.variables["STAGING_TEST_JWT_TOKEN"] == "eyJ-env"


def test_start_and_stop_leave_it_alone(project: Path) -> None:
    stack = load_stack(project, "staging", environ={})

    started = orchestrator.start(stack)
    stopped = orchestrator.stop(stack)

    assert {r.action for r in (*started.results, *stopped.results)} == {Action.EXTERNAL}
    assert not (project / ".realstack").exists()  # not even state of its own


@pytest.mark.parametrize("act", ["purge", "restart"])
def test_purge_and_restart_are_refused(project: Path, act: str) -> None:
    stack = load_stack(project, "staging", environ={})

    with pytest.raises(ConfigError, match="deployed stack: realstack"):
        if act == "purge":
            orchestrator.stop(stack, purge=True)
        else:
            orchestrator.restart(stack, "backend")


def test_status_says_deployed_or_not_offered(project: Path) -> None:
    stack = load_stack(project, "staging", environ={})

    rows = {r.name: r for r in status(stack, probe=False)}

    assert (rows["backend"].provider, rows["backend"].state) == ("external", "deployed")
    assert rows["postgres"].state == "not offered"


def test_a_deployed_url_that_is_no_url_is_a_config_error(project: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_stack(project, "staging", environ={"BACKEND_SERVICE_URL": "http://[::1/x"})
    assert err.value.path == "BACKEND_SERVICE_URL"


def test_a_deployed_dsns_password_is_a_secret(project: Path) -> None:
    from realstack.secrets import mask, secret_values

    dsn = "postgresql://app:Sup3rSecret@db.example.invalid/app"
    (project / "envs" / "staging.env").write_text(STAGING + f"DATABASE_URL={dsn}\n")
    stack = load_stack(project, "staging", environ={})

    assert mask(f"db {stack.service('postgres').external}", secret_values(stack)) == (
        "db postgresql://app:***@db.example.invalid/app"
    )

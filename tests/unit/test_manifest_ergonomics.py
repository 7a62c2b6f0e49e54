"""What a new user's manifest may leave out or refer to: no env file when nothing is
interpolated, other services' fields by name, the app's own interpreter, fast test envs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from realstack.errors import ConfigError
from realstack.manifest import build_stack, load_stack

PG = {"kind": "postgres", "port": 15432, "user": "app", "password": "pw", "database": "app"}
REDIS = {"kind": "redis", "port": 16379, "database": "1"}


def stack(tmp_path: Path, env: str = "test", **table: Any) -> Any:
    return build_stack(table, root=tmp_path, env=env, variables={})


def write(root: Path, manifest: str) -> None:
    (root / "pyproject.toml").write_text("[tool.realstack]\n" + manifest)


def test_a_project_without_env_files_loads(tmp_path: Path) -> None:
    write(tmp_path, '[tool.realstack.services.cache]\nkind = "redis"\nport = 16379\n')

    loaded = load_stack(tmp_path, environ={})

    assert loaded.env == "test"
    assert loaded.service("cache").port == 16379


def test_once_env_files_exist_a_missing_one_is_a_typo(tmp_path: Path) -> None:
    write(tmp_path, '[tool.realstack.services.cache]\nkind = "redis"\nport = 16379\n')
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "test.env").write_text("")

    with pytest.raises(ConfigError, match=r"unknown env 'tset'.*known: test"):
        load_stack(tmp_path, "tset", environ={})


def test_a_service_refers_to_another_services_fields(tmp_path: Path) -> None:
    app = {
        "kind": "process",
        "port": 18001,
        "command": ["{python}", "app.py", "--db-port", "{db.port}", "--cache", "{cache.url}"],
        "env": {"DB_HOST": "{db.host}", "DB_USER": "{db.user}", "OWN_PORT": "{port}"},
        "exports": {"BACKEND_URL": "http://{host}:{port}", "DB_NAME": "{db.database}"},
        "depends_on": ["db", "cache"],
    }

    svc = stack(tmp_path, services={"app": app, "db": PG, "cache": REDIS}).service("app")

    assert svc.command[2:] == ("--db-port", "15432", "--cache", "redis://localhost:16379/1")
    assert svc.env == {"DB_HOST": "localhost", "DB_USER": "app", "OWN_PORT": "18001"}
    assert svc.exports == {"BACKEND_URL": "http://localhost:18001", "DB_NAME": "app"}


def test_an_unknown_reference_lists_what_there_is(tmp_path: Path) -> None:
    app = {"kind": "process", "port": 1, "command": ["x", "{db.prot}"]}

    with pytest.raises(ConfigError) as err:
        stack(tmp_path, services={"app": app, "db": PG})

    assert err.value.path == "tool.realstack.services.app.command[1]"
    assert "unknown placeholder {db.prot}" in str(err.value)
    assert "{db.port}" in str(err.value)


def test_python_names_the_apps_interpreter(tmp_path: Path) -> None:
    app = {"kind": "process", "port": 1, "command": ["{python}", "-m", "app"]}

    default = stack(tmp_path, services={"app": app}).service("app")
    venv = stack(tmp_path, services={"app": app}, python=".venv/bin/python").service("app")

    assert default.command[0] == sys.executable
    assert venv.command[0] == str(tmp_path / ".venv" / "bin" / "python")


@pytest.mark.parametrize(("env", "durable"), [("test", False), ("dev", True), ("ci", True)])
def test_servers_are_fast_in_the_test_env_and_durable_elsewhere(
    tmp_path: Path, env: str, durable: bool
) -> None:
    loaded = stack(tmp_path, env, services={"db": PG, "cache": REDIS})

    assert [s.durable for s in loaded.services] == [durable, durable]


def test_a_service_says_durable_for_itself(tmp_path: Path) -> None:
    loaded = stack(tmp_path, "test", services={"db": {**PG, "durable": True}})

    assert loaded.service("db").durable is True


def test_a_command_runs_in_the_project_unless_it_says_where(tmp_path: Path) -> None:
    app = {"kind": "process", "port": 1, "command": ["x"]}
    sub = {**app, "port": 2, "cwd": "services/api"}

    loaded = stack(tmp_path, services={"app": app, "sub": sub})

    assert loaded.service("app").cwd == tmp_path
    assert loaded.service("sub").cwd == tmp_path / "services" / "api"


def test_a_shared_env_reaches_every_command_and_each_service_may_override(
    tmp_path: Path,
) -> None:
    shared = {"POSTGRES_SERVER": "{postgres.host}", "POSTGRES_PORT": "{postgres.port}", "X": "1"}
    app = {"kind": "process", "port": 18001, "command": ["a"], "env": {"X": "2"}}
    task = {"kind": "task", "command": ["m"]}
    table = {"env": shared, "services": {"postgres": PG, "app": app, "migrate": task}}
    loaded = build_stack(table, root=tmp_path, env="test", variables={})

    assert loaded.service("app").env == {
        "POSTGRES_SERVER": "localhost",
        "POSTGRES_PORT": "15432",
        "X": "2",
    }
    assert loaded.service("migrate").env["X"] == "1"
    assert loaded.service("postgres").env == {}  # servers get no app environment


@pytest.mark.parametrize(
    ("table", "path", "says"),
    [
        ({"python": "~no-such-user-here/bin/python"}, "tool.realstack.python", "no-such-user"),
        ({"env": {"A=B": "x"}}, 'tool.realstack.env."A=B"', "not a valid environment variable"),
    ],
)
def test_bad_top_level_values_are_config_errors(
    tmp_path: Path, table: dict[str, Any], path: str, says: str
) -> None:
    app = {"kind": "process", "port": 1, "command": ["{python}"]}
    with pytest.raises(ConfigError) as err:
        build_stack({**table, "services": {"app": app}}, root=tmp_path, env="t", variables={})
    assert err.value.path == path
    assert says in str(err.value)


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ({"kind": "task", "command": ["m"], "inputs": ["migrations/**.py"]}, "inputs[0]"),
        ({"kind": "process", "port": 1, "command": ["a"], "env": {"1X": "y"}}, "env.1X"),
    ],
)
def test_bad_service_values_are_config_errors(
    tmp_path: Path, service: dict[str, Any], path: str
) -> None:
    with pytest.raises(ConfigError) as err:
        build_stack({"services": {"svc": service}}, root=tmp_path, env="t", variables={})
    assert err.value.path == f"tool.realstack.services.svc.{path}"

"""The manifest: ``[tool.realstack]`` + envs/<env>.env + environment → a validated Stack.

Every mistake is a ``ConfigError`` whose ``path`` names the offending field.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import textwrap
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realstack import fields
from realstack.errors import ConfigError, CycleError
from realstack.manifest import TOP_KEYS, build_stack, load_stack
from realstack.model import PROBE_KINDS, SERVICE_KINDS, Dependency, Probe, Service, Stack
from realstack.service_parts import parse_profiles

ROOT = Path("/srv/project")
SVC = "tool.realstack.services"
REPO = Path(__file__).parents[2]


def build(
    services: Mapping[str, Any],
    variables: Mapping[str, str] | None = None,
    **table: Any,
) -> Stack:
    return build_stack(
        {"services": dict(services), **table}, root=ROOT, env="test", variables=variables or {}
    )


def config_error(
    services: Mapping[str, Any],
    variables: Mapping[str, str] | None = None,
    **table: Any,
) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        build(services, variables, **table)
    return info.value


def redis(**fields: Any) -> dict[str, Any]:
    return {"kind": "redis", "port": 6381, **fields}


def process(port: int, **fields: Any) -> dict[str, Any]:
    return {"kind": "process", "port": port, "command": ["{python}", "-m", "app"], **fields}


# --------------------------------------------------------------------------- dependencies


def test_unknown_dependency_is_reported_at_its_list_entry() -> None:
    """A typo in depends_on names the list index and the unknown service."""
    err = config_error(
        {
            "postgres": {"kind": "postgres", "port": 5434, "user": "u", "database": "d"},
            "auth": process(8082),
            "backend": process(8001, depends_on=["postgres", "autth"]),
        }
    )
    assert err.path == f"{SVC}.backend.depends_on[1]"
    assert "unknown service 'autth'" in err.message
    assert str(err).startswith(f"{SVC}.backend.depends_on[1]: ")


def test_dependency_cycle_carries_the_loop() -> None:
    """a → b → c → a is a CycleError whose cycle and message show the loop."""
    deps = {"a": ["b"], "b": ["c"], "c": ["a"]}
    services = {name: process(8000 + i, depends_on=d) for i, (name, d) in enumerate(deps.items())}
    with pytest.raises(CycleError) as info:
        build(services)
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}
    assert len(cycle) == 4
    for here, there in pairwise(cycle):
        assert there in deps[here], f"{here} -> {there} is not an edge of {cycle}"
    assert " -> ".join(cycle) in str(info.value)
    assert info.value.path == f"{SVC}.{cycle[0]}.depends_on"


def test_cycle_error_is_a_config_error() -> None:
    """Callers that handle ConfigError (exit 2) also handle cycles."""
    with pytest.raises(ConfigError):
        build({"a": process(8000, depends_on=["b"]), "b": process(8001, depends_on=["a"])})


def test_self_dependency_is_rejected() -> None:
    """A service cannot wait for itself."""
    err = config_error({"a": process(8000, depends_on=["a"])})
    assert err.path == f"{SVC}.a.depends_on[0]"
    assert "itself" in err.message


def test_duplicate_dependency_is_rejected() -> None:
    """Listing a dependency twice is a mistake, reported at the second entry."""
    err = config_error({"db": redis(), "app": process(8000, depends_on=["db", "db"])})
    assert err.path == f"{SVC}.app.depends_on[1]"


def test_dependency_tables_carry_a_condition() -> None:
    """``{service, condition}`` tables are accepted; a plain name means healthy."""
    stack = build(
        {
            "db": redis(),
            "auth": process(8082),
            "app": process(8000, depends_on=["db", {"service": "auth", "condition": "started"}]),
        }
    )
    assert stack.service("app").depends_on == (
        Dependency("db", "healthy"),
        Dependency("auth", "started"),
    )


def test_unknown_dependency_condition_is_rejected() -> None:
    """The condition is one of started/healthy."""
    err = config_error(
        {"db": redis(), "app": process(8000, depends_on=[{"service": "db", "condition": "up"}])}
    )
    assert err.path == f"{SVC}.app.depends_on[0].condition"


# --------------------------------------------------------------------------- ports


@pytest.mark.parametrize("port", [0, 70000, -1, "abc", True, 5.5, "", [5432]])
def test_bad_port_is_reported_at_the_port_field(port: object) -> None:
    """Ports are integers in 1..65535; booleans and words are not ports."""
    err = config_error({"cache": redis(port=port)})
    assert err.path == f"{SVC}.cache.port"


def test_missing_port_is_required() -> None:
    """Every service needs a port."""
    err = config_error({"cache": {"kind": "redis"}})
    assert err.path == f"{SVC}.cache.port"
    assert err.message == "required"


@pytest.mark.parametrize("port", ["²", "--1", "-+1", pytest.param("9" * 5000, id="5000-digits")])
def test_port_strings_that_only_look_numeric_are_config_errors(port: str) -> None:
    """Superscripts, doubled signs and absurdly long digit runs are not ports, and not crashes."""
    err = config_error({"cache": redis(port=port)})
    assert err.path == f"{SVC}.cache.port"


def test_port_from_a_variable_is_an_integer() -> None:
    """``${PORT}`` arrives as a string and becomes an int."""
    stack = build({"cache": redis(port="${REDIS_PORT}")}, {"REDIS_PORT": "6390"})
    assert stack.service("cache").port == 6390


def test_two_services_on_one_port_are_rejected() -> None:
    """A port clash is caught before anything starts."""
    err = config_error({"a": process(8000), "b": process(8000)})
    assert err.path == f"{SVC}.b.port"
    assert "'a'" in err.message


# --------------------------------------------------------------------------- probes


@pytest.mark.parametrize(
    ("probe", "field"),
    [
        ({"kind": "grpc"}, "probe.kind"),
        ("grpc", "probe.kind"),
        ({"kind": "http", "status": 999}, "probe.status"),
        ({"kind": "http", "status": 99}, "probe.status"),
        ({"kind": "http", "status": "ok"}, "probe.status"),
        ({"kind": "http", "path": "health"}, "probe.path"),
        ({"kind": "command"}, "probe.command"),
        ({"kind": "command", "command": "pg_isready"}, "probe.command"),
        ({"kind": "tcp", "timeout": 1}, "probe.timeout"),
        ({"kind": "tcp", "attempt_timeout": 0}, "probe.attempt_timeout"),
        (42, "probe"),
    ],
)
def test_bad_probe_is_reported_under_the_probe_field(probe: object, field: str) -> None:
    """Unknown kinds, impossible statuses, relative paths and empty commands are named."""
    err = config_error({"api": process(8000, probe=probe)})
    assert err.path == f"{SVC}.api.{field}"


def test_http_probe_keeps_path_and_status() -> None:
    """A valid http probe is data: path and expected status."""
    stack = build({"api": process(8000, probe={"kind": "http", "path": "/health", "status": 204})})
    assert stack.service("api").probe == Probe(kind="http", path="/health", status=204)


def test_command_probe_expands_placeholders() -> None:
    """Probe commands may use ``{port}``/``{host}`` like service commands."""
    stack = build(
        {"api": process(8000, probe={"kind": "command", "command": ["check", "{host}:{port}"]})}
    )
    assert stack.service("api").probe.command == ("check", "127.0.0.1:8000")


# --------------------------------------------------------------------------- keys and commands


def test_unknown_service_key_is_named() -> None:
    """A typo such as ``depends-on`` is an error, not silently ignored."""
    err = config_error({"db": redis(), "api": process(8000, **{"depends-on": ["db"]})})
    assert err.path == f"{SVC}.api.depends-on"
    assert "unknown key" in err.message


def test_unknown_top_level_key_is_named() -> None:
    """Only default_env, state_dir and services live at the top."""
    err = config_error({"db": redis()}, servces={})
    assert err.path == "tool.realstack.servces"


def test_empty_services_table_is_rejected() -> None:
    """A stack without services is a configuration mistake."""
    err = config_error({})
    assert err.path == SVC


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("Backend", f"{SVC}.Backend"),
        ("my service", f'{SVC}."my service"'),  # quoted as TOML quotes the key
        ("1st", f"{SVC}.1st"),
        ("a" * 64, f"{SVC}.{'a' * 64}"),
    ],
)
def test_invalid_service_name_is_rejected(name: str, path: str) -> None:
    """Service names become file names and env keys: lower-case, short, no spaces."""
    err = config_error({name: redis()})
    assert err.path == path


def test_service_name_with_a_trailing_newline_is_rejected() -> None:
    """``"api\\n"`` is refused, and the path shows the newline escaped, not as a line break."""
    err = config_error({"api\n": redis()})
    assert err.path == f'{SVC}."api\\n"'


def test_unknown_placeholder_in_command_names_it_and_the_known_ones() -> None:
    """``{pyhton}`` is reported at its argv index, listing the placeholders that exist."""
    err = config_error({"api": process(8000, command=["{python}", "{pyhton}", "-m", "app"])})
    assert err.path == f"{SVC}.api.command[1]"
    assert "{pyhton}" in err.message
    assert "{python}" in err.message
    assert "{port}" in err.message


@pytest.mark.parametrize("arg", ["{", "}", "{port!r}", "{port:>6}", "{}"])
def test_malformed_placeholders_are_config_errors(arg: str) -> None:
    """Stray braces, conversions and format specs are rejected, not passed to str.format."""
    err = config_error({"api": process(8000, command=["run", arg])})
    assert err.path == f"{SVC}.api.command[1]"


def test_known_placeholders_expand_in_command_and_env() -> None:
    """``{python}``, ``{port}``, ``{name}``, ``{root}`` expand; ``{{`` is a literal brace."""
    stack = build(
        {
            "api": process(
                8000,
                command=["{python}", "serve", "--port={port}", "{name}", "{root}", "{{x}}"],
                env={"LISTEN": "{host}:{port}", "WORKERS": 2},
            )
        }
    )
    api = stack.service("api")
    assert api.command == (sys.executable, "serve", "--port=8000", "api", str(ROOT), "{x}")
    assert dict(api.env) == {"LISTEN": "127.0.0.1:8000", "WORKERS": "2"}


def test_command_must_be_an_argv_list() -> None:
    """A shell string is not accepted: commands are argv lists (no shell=True)."""
    err = config_error({"api": process(8000, command="python -m app")})
    assert err.path == f"{SVC}.api.command"


def test_process_service_requires_a_command() -> None:
    """A process without a command cannot be started."""
    err = config_error({"api": {"kind": "process", "port": 8000}})
    assert err.path == f"{SVC}.api.command"


@pytest.mark.parametrize(("missing", "given"), [("user", {"database": "d"}), ("database", {})])
def test_postgres_requires_user_and_database(missing: str, given: dict[str, str]) -> None:
    """The postgres URL needs both a user and a database."""
    fields = {"kind": "postgres", "port": 5434, "user": "u", **given}
    if missing == "user":
        del fields["user"]
    err = config_error({"pg": fields})
    assert err.path == f"{SVC}.pg.{missing}"


@pytest.mark.parametrize("database", ["one", "-1", "²", "\u0661"])
def test_redis_database_must_be_a_plain_number(database: str) -> None:
    """Redis databases are ASCII digits (redis-py and the server parse them with int())."""
    err = config_error({"cache": redis(database=database)})
    assert err.path == f"{SVC}.cache.database"


@pytest.mark.parametrize(("database", "url_db"), [(1, "1"), ("3", "3")])
def test_a_redis_database_is_an_index_written_as_a_number_or_a_string(
    database: object, url_db: str
) -> None:
    """``database = 1`` as the docs' "db index" reads (before: "expected a string, got int");
    a negative number or a bool is still refused."""
    stack = build({"cache": redis(database=database)})
    assert stack.service("cache").url.endswith(f"/{url_db}")
    for bad in (-1, True):
        assert config_error({"cache": redis(database=bad)}).path == f"{SVC}.cache.database"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("startup_timeout", 0),
        ("startup_timeout", 4000),
        ("startup_timeout", "soon"),
        ("startup_timeout", True),
        ("stop_timeout", -1),
        ("durable", "maybe"),
        ("durable", 2),
        ("host", 127),
        ("env", ["A=1"]),
        ("env", {"A": True}),
        ("exports", {"URL": ["x"]}),
    ],
)
def test_mistyped_fields_are_named(field: str, value: object) -> None:
    """Each field has one type; a wrong one names the field."""
    err = config_error({"api": process(8000, **{field: value})})
    assert err.path.startswith(f"{SVC}.api.{field}")


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("off", False), ("0", False)])
def test_durable_accepts_boolean_words(text: str, expected: bool) -> None:
    """``${REALSTACK_DURABLE:-false}`` arrives as a word."""
    assert build({"cache": redis(durable=text)}).service("cache").durable is expected


# --------------------------------------------------------------------------- variables


def test_unset_variable_is_named() -> None:
    """``${VAR}`` with VAR unset names the variable and the field."""
    err = config_error({"cache": redis(port="${REDIS_PORT}")})
    assert err.path == f"{SVC}.cache.port"
    assert "REDIS_PORT" in err.message


def test_unset_variable_inside_a_list_names_the_entry() -> None:
    """Variables in argv lists are reported at their index."""
    err = config_error({"api": process(8000, command=["run", "--key=${API_KEY}"])})
    assert err.path == f"{SVC}.api.command[1]"
    assert "API_KEY" in err.message


def test_variable_default_applies_when_unset() -> None:
    """``${VAR:-default}`` uses the default when VAR is unset."""
    stack = build({"cache": redis(port="${REDIS_PORT:-6390}", database="${REDIS_DB:-3}")})
    cache = stack.service("cache")
    assert (cache.port, cache.database) == (6390, "3")


def test_variable_value_wins_over_default() -> None:
    """A set variable beats the default."""
    stack = build({"cache": redis(port="${REDIS_PORT:-6390}")}, {"REDIS_PORT": "7000"})
    assert stack.service("cache").port == 7000


def test_variable_values_are_taken_literally_even_with_braces() -> None:
    """A secret like ``pa{ss}`` reaches argv unchanged; it is not re-read as a placeholder."""
    stack = build(
        {"api": process(8000, command=["run", "--secret=${SECRET}"], env={"S": "${SECRET}"})},
        {"SECRET": "pa{ss}{"},
    )
    assert stack.service("api").command[-1] == "--secret=pa{ss}{"
    assert stack.service("api").env["S"] == "pa{ss}{"


def test_state_dir_and_instance_default_to_the_env() -> None:
    """State lives in .realstack/<instance>/ and the instance defaults to the env name."""
    stack = build({"cache": redis()})
    assert (stack.env, stack.instance) == ("test", "test")
    assert stack.state_dir == ROOT / ".realstack" / "test"


def test_instance_and_state_dir_come_from_variables() -> None:
    """REALSTACK_INSTANCE and REALSTACK_STATE_DIR move the state (worktrees, CI shards)."""
    stack = build(
        {"cache": redis()}, {"REALSTACK_INSTANCE": "shard-2", "REALSTACK_STATE_DIR": "/var/tmp/rs"}
    )
    assert stack.instance == "shard-2"
    assert stack.state_dir.parent == Path("/var/tmp/rs")
    assert stack.state_dir.name.startswith("shard-2-")


def test_two_checkouts_sharing_a_state_base_get_instance_dirs_of_their_own(
    tmp_path: Path,
) -> None:
    """Outside the project the instance dir carries a hash of the project: two checkouts
    with one REALSTACK_STATE_DIR never share records, logs or data."""
    shared = {"REALSTACK_STATE_DIR": str(tmp_path / "shared")}
    one = build_stack(
        {"services": {"cache": redis()}}, root=tmp_path / "one", env="test", variables=shared
    )
    two = build_stack(
        {"services": {"cache": redis()}}, root=tmp_path / "two", env="test", variables=shared
    )
    assert one.state_dir.parent == two.state_dir.parent == tmp_path / "shared"
    assert one.state_dir != two.state_dir
    inside = build_stack({"services": {"cache": redis()}}, root=tmp_path, env="test", variables={})
    assert inside.state_dir == tmp_path / ".realstack" / "test"


@pytest.mark.parametrize("instance", ["../escape", "a b", "shard\n"])
def test_invalid_instance_name_is_rejected_at_the_variable_that_set_it(instance: str) -> None:
    """A REALSTACK_INSTANCE that is no directory name is refused at REALSTACK_INSTANCE."""
    err = config_error({"cache": redis()}, {"REALSTACK_INSTANCE": instance})
    assert err.path == "REALSTACK_INSTANCE"


def test_an_invalid_instance_argument_is_rejected_at_the_argument() -> None:
    """An instance passed by the caller is reported as ``instance``."""
    with pytest.raises(ConfigError) as info:
        build_stack(
            {"services": {"cache": redis()}}, root=ROOT, env="t", variables={}, instance="a/b"
        )
    assert info.value.path == "instance"


# --------------------------------------------------------------------------- env files


def write_project(root: Path, envs: Mapping[str, str]) -> Path:
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [tool.realstack]
            default_env = "test"

            [tool.realstack.services.postgres]
            kind = "postgres"
            port = "${POSTGRES_PORT}"
            user = "${POSTGRES_USER}"
            password = "${POSTGRES_PASSWORD:-}"
            database = "${POSTGRES_DB}"
            """
        )
    )
    (root / "envs").mkdir()
    for name, body in envs.items():
        (root / "envs" / f"{name}.env").write_text(textwrap.dedent(body))
    return root


ENV_FILES = {
    "test": "POSTGRES_PORT=5434\nPOSTGRES_USER=test_user\nPOSTGRES_DB=app_test\n",
    "dev": "POSTGRES_PORT=5433\nPOSTGRES_USER=dev_user\nPOSTGRES_DB=app_dev\n",
}


def test_env_file_supplies_variables(tmp_path: Path) -> None:
    """envs/<env>.env fills ``${...}`` when the environment is silent."""
    root = write_project(tmp_path, ENV_FILES)
    pg = load_stack(root, "dev", environ={}).service("postgres")
    assert (pg.port, pg.user, pg.database) == (5433, "dev_user", "app_dev")


@pytest.mark.parametrize(
    "line", ["POSTGRES_PASSWORD s3cret-in-the-line", 'POSTGRES_PASSWORD="s3cret-in-the-line']
)
def test_an_env_file_line_that_is_no_assignment_is_named_by_file_and_line(
    tmp_path: Path, line: str
) -> None:
    """python-dotenv logs and skips such a line; the error then read "variable … is not set"
    with no file named. The line is not shown: it may hold a secret."""
    root = write_project(tmp_path, {"test": ENV_FILES["test"] + line + "\n"})
    with pytest.raises(ConfigError) as info:
        load_stack(root, "test", environ={})
    assert str(info.value) == (
        f"{root / 'envs' / 'test.env'}: line 4 is not NAME=value (a missing '=', or an "
        "unclosed quote)"
    )


def test_a_variable_set_empty_says_empty_not_unset(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"test": ENV_FILES["test"].replace("test_user", "")})
    with pytest.raises(ConfigError) as info:
        load_stack(root, "test", environ={})
    assert "variable POSTGRES_USER is empty" in str(info.value)


def test_environment_overrides_env_file(tmp_path: Path) -> None:
    """A variable in the process environment beats the same one in the env file."""
    root = write_project(tmp_path, ENV_FILES)
    pg = load_stack(root, "test", environ={"POSTGRES_PORT": "6543"}).service("postgres")
    assert pg.port == 6543
    assert pg.user == "test_user"


def test_env_comes_from_realstack_env_then_default_env(tmp_path: Path) -> None:
    """No explicit env: REALSTACK_ENV, else the manifest's default_env."""
    root = write_project(tmp_path, ENV_FILES)
    assert load_stack(root, environ={}).env == "test"
    assert load_stack(root, environ={"REALSTACK_ENV": "dev"}).env == "dev"


def test_unknown_env_lists_the_known_envs(tmp_path: Path) -> None:
    """Asking for an env without a file names the ones that exist."""
    root = write_project(tmp_path, ENV_FILES)
    with pytest.raises(ConfigError) as info:
        load_stack(root, "staging", environ={})
    assert info.value.path == "env"
    assert "'staging'" in info.value.message
    assert "known: dev, test" in info.value.message


@pytest.mark.parametrize("env", ["../test", "te st", "envs/../test"])
def test_env_name_cannot_escape_the_envs_directory(tmp_path: Path, env: str) -> None:
    """The env name is a file stem, never a path."""
    root = write_project(tmp_path, ENV_FILES)
    (root / "test.env").write_text("POSTGRES_PORT=1\n")
    with pytest.raises(ConfigError) as info:
        load_stack(root, env, environ={})
    assert info.value.path == "env"


# --------------------------------------------------------------------------- defaults


def test_postgres_gets_its_default_probe_and_exports() -> None:
    """Postgres probes with SELECT 1 and exports DATABASE_URL/POSTGRES_SERVICE_URL on localhost."""
    pg = build(
        {
            "pg": {
                "kind": "postgres",
                "port": 5434,
                "user": "test_user",
                "password": "test_pass",
                "database": "app_test",
            }
        }
    ).service("pg")
    url = "postgresql://test_user:test_pass@localhost:5434/app_test"
    assert pg.probe == Probe(kind="postgres")
    assert pg.host == "127.0.0.1"
    assert pg.url == url
    assert dict(pg.exports) == {"DATABASE_URL": url, "POSTGRES_SERVICE_URL": url}


def test_redis_gets_its_default_probe_and_exports() -> None:
    """Redis probes with PING and exports REDIS_URL/REDIS_SERVICE_URL; database defaults to 0."""
    cache = build({"cache": redis()}).service("cache")
    assert cache.probe == Probe(kind="redis")
    assert dict(cache.exports) == {
        "REDIS_URL": "redis://localhost:6381/0",
        "REDIS_SERVICE_URL": "redis://localhost:6381/0",
    }


def test_process_gets_a_tcp_probe_and_no_exports() -> None:
    """An app process is ready when its port accepts; it exports only what it declares."""
    api = build({"api": process(8001)}).service("api")
    assert api.probe == Probe(kind="tcp")
    assert dict(api.exports) == {}
    assert api.url == "http://localhost:8001"


def test_declared_exports_render_placeholders() -> None:
    """Exports may use ``{url}``, ``{host}`` and ``{port}``; they add to the kind's defaults."""
    api = build(
        {
            "backend": process(
                8001,
                exports={
                    "BACKEND_SERVICE_URL": "{url}",
                    "WEBSOCKET_URL": "ws://{host}:{port}/ws",
                },
            )
        }
    ).service("backend")
    assert dict(api.exports) == {
        "BACKEND_SERVICE_URL": "http://localhost:8001",
        "WEBSOCKET_URL": "ws://localhost:8001/ws",
    }


@pytest.mark.parametrize(
    ("name", "key"), [("BAD-NAME", "BAD-NAME"), ("1URL", "1URL"), ("URL\n", '"URL\\n"')]
)
def test_export_names_must_be_environment_variable_names(name: str, key: str) -> None:
    """An export no shell could read is refused at its key (TOML-quoted when not bare)."""
    err = config_error({"api": process(8001, exports={name: "{url}"})})
    assert err.path == f"{SVC}.api.exports.{key}"


def test_credentials_are_escaped_in_the_url() -> None:
    """Special characters in user/password cannot break the URL."""
    pg = build(
        {"pg": {"kind": "postgres", "port": 5, "user": "u@x", "password": "p:/@w", "database": "d"}}
    ).service("pg")
    assert pg.url == "postgresql://u%40x:p%3A%2F%40w@localhost:5/d"


def test_non_loopback_host_appears_in_urls() -> None:
    """Only loopback binds are spelled ``localhost``."""
    cache = build({"cache": redis(host="10.0.0.5")}).service("cache")
    assert cache.exports["REDIS_URL"] == "redis://10.0.0.5:6381/0"


# --------------------------------------------------------------------------- clickhouse


def clickhouse(**fields: Any) -> dict[str, Any]:
    return {"kind": "clickhouse", "port": 8125, **fields}


def test_clickhouse_gets_its_default_login_probe_and_exports() -> None:
    """User and database default to "default"; the probe is an HTTP SELECT 1; exports are the
    names the official image reads, plus CLICKHOUSE_SERVICE_URL on localhost."""
    ch = build({"clickhouse": clickhouse()}).service("clickhouse")
    assert (ch.user, ch.password, ch.database) == ("default", "", "default")
    assert ch.probe == Probe(kind="clickhouse")
    assert ch.probe.describe() == "clickhouse HTTP SELECT 1"
    assert ch.url == "http://localhost:8125"
    assert dict(ch.exports) == {
        "CLICKHOUSE_SERVICE_URL": "http://localhost:8125",
        "CLICKHOUSE_USER": "default",
        "CLICKHOUSE_PASSWORD": "",
        "CLICKHOUSE_DB": "default",
    }


def test_clickhouse_credentials_are_exported_as_given() -> None:
    """The login goes into its own variables unescaped; the URL carries no credentials."""
    ch = build(
        {
            "clickhouse": clickhouse(
                port="${CH_PORT}", user="${CH_USER}", password="${CH_PASSWORD}", database="stats"
            )
        },
        {"CH_PORT": "9123", "CH_USER": "an@lyst", "CH_PASSWORD": "p:/@w{rd}"},
    ).service("clickhouse")
    assert dict(ch.exports) == {
        "CLICKHOUSE_SERVICE_URL": "http://localhost:9123",
        "CLICKHOUSE_USER": "an@lyst",
        "CLICKHOUSE_PASSWORD": "p:/@w{rd}",
        "CLICKHOUSE_DB": "stats",
    }


def test_clickhouse_declared_exports_add_to_the_defaults() -> None:
    """Like other kinds, declared exports may use {user}/{database} and add to the defaults."""
    ch = build(
        {"clickhouse": clickhouse(exports={"ANALYTICS_DSN": "clickhouse://{user}@{host}:{port}"})}
    ).service("clickhouse")
    assert ch.exports["ANALYTICS_DSN"] == "clickhouse://default@localhost:8125"
    assert "CLICKHOUSE_SERVICE_URL" in ch.exports


@pytest.mark.parametrize("table", [{}, {"provider": "native"}], ids=["default", "explicit"])
def test_clickhouse_inheriting_a_native_provider_runs_in_docker(table: dict[str, Any]) -> None:
    """ClickHouse has no native provider: a stack-wide native (said or implied) means docker
    for it, while postgres and redis beside it stay native."""
    stack = build({"clickhouse": clickhouse(), "cache": redis()}, **table)
    assert stack.service("clickhouse").provider == "docker"
    assert stack.service("cache").provider == "native"


@pytest.mark.parametrize("provider", ["auto", "docker"])
def test_clickhouse_keeps_a_docker_capable_provider(provider: str) -> None:
    """auto and docker, whether inherited or its own, are kept as they are."""
    inherited = build({"clickhouse": clickhouse()}, provider=provider)
    own = build({"clickhouse": clickhouse(provider=provider)})
    assert inherited.service("clickhouse").provider == provider
    assert own.service("clickhouse").provider == provider


def test_clickhouse_with_an_explicit_native_provider_is_a_config_error() -> None:
    """Asking for native ClickHouse is a mistake, named at the service's provider field."""
    err = config_error({"clickhouse": clickhouse(provider="native")}, provider="docker")
    assert err.path == f"{SVC}.clickhouse.provider"
    assert "clickhouse" in err.message


# --------------------------------------------------------------------------- profiles


def test_a_service_without_profiles_is_always_enabled() -> None:
    """No ``profiles``: the service belongs to every start, whatever is active."""
    for active in ("", "analytics"):
        stack = build({"cache": redis()}, {"REALSTACK_PROFILES": active})
        cache = stack.service("cache")
        assert cache.profiles == ()
        assert stack.enabled(cache)


@pytest.mark.parametrize(
    "profiles",
    [
        ["search", "analytics"],
        ["analytics", "search", "analytics"],
        "search,analytics",
        "search analytics",
        " analytics ,, search ",
        "${PROFILES}",
    ],
)
def test_service_profiles_are_a_list_or_a_comma_string(profiles: object) -> None:
    """A list, or a string split on commas and spaces (also from a variable); kept sorted and
    without duplicates."""
    stack = build({"ch": clickhouse(profiles=profiles)}, {"PROFILES": "analytics,search"})
    assert stack.service("ch").profiles == ("analytics", "search")


@pytest.mark.parametrize(
    ("active", "enabled"),
    [("", False), ("search", False), ("analytics", True), ("search,analytics", True)],
)
def test_a_profile_service_is_enabled_when_one_of_its_profiles_is_active(
    active: str, enabled: bool
) -> None:
    """REALSTACK_PROFILES lists the active profiles; one shared profile is enough."""
    stack = build(
        {"ch": clickhouse(profiles=["analytics", "reports"])}, {"REALSTACK_PROFILES": active}
    )
    assert stack.enabled(stack.service("ch")) is enabled


@pytest.mark.parametrize(
    ("profiles", "where"),
    [
        (["Analytics"], "[0]"),
        (["analytics", "1st"], "[1]"),
        ("analytics;search", ""),
        (["a.b"], "[0]"),
        ("ok,Not", ""),
        (["a b"], "[0]"),  # a list entry is one name, never split
        ([""], "[0]"),
    ],
)
def test_invalid_service_profile_names_are_named_at_the_profiles_field(
    profiles: object, where: str
) -> None:
    """Profile names follow service names: lower-case, starting with a letter."""
    err = config_error({"ch": clickhouse(profiles=profiles)})
    assert err.path == f"{SVC}.ch.profiles{where}"


@pytest.mark.parametrize("profiles", [5, True, ["analytics", 1], {"analytics": True}])
def test_mistyped_service_profiles_are_named(profiles: object) -> None:
    """Profiles are strings: a list of them or one comma-separated string."""
    err = config_error({"ch": clickhouse(profiles=profiles)})
    assert err.path.startswith(f"{SVC}.ch.profiles")


def test_active_profiles_come_from_realstack_profiles() -> None:
    """Commas and spaces separate; no variable means no active profile."""
    assert build({"cache": redis()}).profiles == frozenset()
    stack = build({"cache": redis()}, {"REALSTACK_PROFILES": "analytics, search"})
    assert stack.profiles == {"analytics", "search"}


def test_an_invalid_active_profile_names_realstack_profiles() -> None:
    """A bad name in REALSTACK_PROFILES is reported against that variable."""
    err = config_error({"cache": redis()}, {"REALSTACK_PROFILES": "analytics,Search"})
    assert err.path == "REALSTACK_PROFILES"
    assert "'Search'" in err.message


def test_active_profiles_come_from_the_env_file_or_the_environment(tmp_path: Path) -> None:
    """REALSTACK_PROFILES in envs/<env>.env applies; the environment's value replaces it."""
    env_files = {**ENV_FILES, "dev": ENV_FILES["dev"] + "REALSTACK_PROFILES=analytics\n"}
    root = write_project(tmp_path, env_files)
    assert load_stack(root, "test", environ={}).profiles == frozenset()
    assert load_stack(root, "dev", environ={}).profiles == {"analytics"}
    environ = {"REALSTACK_PROFILES": "search reports"}
    assert load_stack(root, "dev", environ=environ).profiles == {"search", "reports"}


@pytest.mark.parametrize("value", ["", " ", ",", " , ,\t"])
def test_parse_profiles_of_nothing_is_the_empty_set(value: str) -> None:
    """Separators alone name no profile."""
    assert parse_profiles(value) == frozenset()


@pytest.mark.parametrize("bad", ["Analytics", "9lives", "an.alytics", "analytics!", "a" * 64])
def test_parse_profiles_rejects_invalid_names_at_the_given_path(bad: str) -> None:
    """The error names the path it was given and the offending name."""
    with pytest.raises(ConfigError) as info:
        parse_profiles(f"analytics,{bad}", "profile")
    assert info.value.path == "profile"
    assert repr(bad) in info.value.message


PROFILE_NAMES = st.from_regex(r"[a-z][a-z0-9_-]{0,62}", fullmatch=True)
SEPARATORS = st.text(st.sampled_from(", \t\n"), min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(PROFILE_NAMES, max_size=6),
    separators=st.lists(SEPARATORS, min_size=7, max_size=7),
    edges=st.tuples(SEPARATORS | st.just(""), SEPARATORS | st.just("")),
)
def test_parse_profiles_round_trips_any_valid_names_in_any_layout(
    names: list[str], separators: list[str], edges: tuple[str, str]
) -> None:
    """Valid names joined by any run of commas and whitespace, with any padding (and repeats),
    parse back to exactly their set."""
    body = "".join(name + sep for name, sep in zip(names, separators, strict=False))
    assert parse_profiles(edges[0] + body + edges[1]) == frozenset(names)


# --------------------------------------------------------------------------- field readers


@pytest.mark.parametrize(
    ("reader", "value"),
    [
        (fields.text, 5),
        (fields.str_list, "run app"),
        (fields.str_map, ["A=1"]),
        (fields.integer, "5.0"),
        (fields.port_number, None),
        (fields.seconds, 0),
        (fields.boolean, "maybe"),
    ],
)
def test_each_field_reader_names_the_path_it_is_given(reader: Any, value: object) -> None:
    """A reader that refuses a value raises ConfigError at exactly the caller's path."""
    with pytest.raises(ConfigError) as info:
        reader(value, "tool.realstack.services.x.field")
    assert info.value.path == "tool.realstack.services.x.field"


def test_choice_lists_the_choices() -> None:
    """An unknown choice says what would have been accepted."""
    with pytest.raises(ConfigError) as info:
        fields.choice("podman", ("auto", "docker", "native"), "provider")
    assert info.value.message == "expected one of auto, docker, native; got 'podman'"


def test_interpolate_walks_lists_and_tables_and_leaves_other_values_alone() -> None:
    """Strings anywhere inside are substituted; numbers, booleans and None pass through."""
    raw = {"a": ["${X}", 1, True, None], "b": {"c": "${Y:-y}/${X}"}, "d": 2.5}
    assert fields.interpolate(raw, {"X": "x"}, "p") == {
        "a": ["x", 1, True, None],
        "b": {"c": "y/x"},
        "d": 2.5,
    }


def test_an_empty_variable_counts_as_unset() -> None:
    """``X=`` in an env file falls back to the default, or is reported when there is none."""
    assert fields.interpolate("${X:-dflt}", {"X": ""}, "p") == "dflt"
    with pytest.raises(ConfigError) as info:
        fields.interpolate(["ok", "${X}"], {"X": ""}, "p")
    assert info.value.path == "p[1]"


@settings(max_examples=200, deadline=None)
@given(value=st.text(st.characters(exclude_characters="\0"), max_size=20))
def test_literal_braces_survive_the_placeholder_step(value: str) -> None:
    """Any substituted value, braces included, comes out of {placeholder} formatting as is."""
    template = fields.interpolate("${V:-}", {"V": value}, "p", literal_braces=True)
    assert isinstance(template, str)
    assert fields.fmt(template, {"port": "1"}, "p") == value


@settings(max_examples=200, deadline=None)
@given(number=st.integers(-(10**18) + 1, 10**18 - 1), pad=st.sampled_from(["", " ", "  "]))
def test_integer_reads_back_what_str_wrote(number: int, pad: str) -> None:
    """Any integer of up to 18 digits, as a string with surrounding spaces, reads back."""
    assert fields.integer(f"{pad}{number}{pad}", "p") == number


# --------------------------------------------------------------------------- the repository's own


@pytest.mark.parametrize(
    ("env", "database_url", "redis_url", "durable"),
    [
        (
            "test",
            "postgresql://test_user:test_pass@localhost:5434/app_test",
            "redis://localhost:6381/1",
            False,
        ),
        (
            "dev",
            "postgresql://dev_user:dev_pass@localhost:5433/app_dev",
            "redis://localhost:6380/0",
            True,
        ),
    ],
)
def test_repository_manifest_loads_with_the_seed_ports(
    env: str, database_url: str, redis_url: str, durable: bool
) -> None:
    """pyproject.toml + envs/<env>.env give the seeds' ports, URLs and durability."""
    stack = load_stack(REPO, env, environ={})
    assert stack.env == env
    assert set(stack.names) >= {"postgres", "redis"}
    pg, cache = stack.service("postgres"), stack.service("redis")
    assert pg.exports["DATABASE_URL"] == pg.exports["POSTGRES_SERVICE_URL"] == database_url
    assert cache.exports["REDIS_URL"] == cache.exports["REDIS_SERVICE_URL"] == redis_url
    assert (pg.port, cache.port) == ((5434, 6381) if env == "test" else (5433, 6380))
    assert (pg.durable, cache.durable) == (durable, durable)


@pytest.mark.parametrize(
    ("env", "port", "user", "password", "database"),
    [
        ("test", 8125, "test_user", "test_pass", "analytics_test"),
        ("dev", 8124, "dev_user", "dev_pass", "analytics_dev"),
    ],
)
def test_repository_clickhouse_is_an_analytics_profile_service_in_docker(
    env: str, port: int, user: str, password: str, database: str
) -> None:
    """The repository's ClickHouse is off unless the analytics profile is on, runs in docker
    under the default native provider, and exports the env file's login."""
    ch = load_stack(REPO, env, environ={}).service("clickhouse")
    assert ch.profiles == ("analytics",)
    assert ch.provider == "docker"
    assert not load_stack(REPO, env, environ={}).enabled(ch)
    assert load_stack(REPO, env, environ={"REALSTACK_PROFILES": "analytics"}).enabled(ch)
    assert dict(ch.exports) == {
        "CLICKHOUSE_SERVICE_URL": f"http://localhost:{port}",
        "CLICKHOUSE_USER": user,
        "CLICKHOUSE_PASSWORD": password,
        "CLICKHOUSE_DB": database,
    }


# --------------------------------------------------------------------------- arbitrary manifests
# Manifests are either arbitrary nested data or a valid manifest with a few fields replaced by
# junk (so validation is exercised deep inside services, not only at the top).

TRICKY = [
    *SERVICE_KINDS,
    *PROBE_KINDS,
    "healthy",
    "started",
    "api",
    "db",
    "${X}",
    "${X:-5}",
    "${UNSET}",
    "${UNSET:-}",
    "{port}",
    "{url}",
    "{python}",
    "{nope}",
    "{",
    "}",
    "{0}",
    "{port!r}",
    "5432",
    "0",
    "-1",
    "--1",
    "²",
    " 80 ",
    "1e3",
    "nan",
    "inf",
    "true",
    "off",
    "/health",
    "health",
    "9" * 5000,
    "${X",
    "${",
    "${X:-${Y}}",
    "a\0b",
    "a..b",
    "../../etc/passwd",
    "::1",
]
VALID_NAMES = ["api", "db", "cache", "auth-1", "x_1"]
BAD_NAMES = ["Api", "", "api\n", "a" * 70, "1st"]
# The keys come from the model: a field added to Service or Probe is fuzzed without a list to
# update here.
SERVICE_KEYS = sorted(f.name for f in dataclasses.fields(Service) if f.name != "name")
PROBE_KEYS = sorted(f.name for f in dataclasses.fields(Probe))

KEYS = [*SERVICE_KEYS, *VALID_NAMES, "services", "depends-on"]
keys = st.sampled_from(KEYS) | st.text(max_size=6)
leaves: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(TRICKY),
)
anything: st.SearchStrategy[object] = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=8,
)
strings = st.sampled_from(TRICKY) | st.text(max_size=8)
numberish: st.SearchStrategy[object] = st.one_of(
    st.integers(-10, 70000),
    st.floats(allow_nan=True),
    st.from_regex(r"[ +-]{0,2}[0-9²٣\u0661]{0,6} ?", fullmatch=True),
    strings,
)
junk: st.SearchStrategy[object] = st.one_of(numberish, strings, anything)
argv_words = st.sampled_from(["{python}", "-m", "app", "--port={port}", "{host}", "${X:-x}"])


OPTIONAL_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "host": st.sampled_from(["127.0.0.1", "localhost", "0.0.0.0"]),
        "probe": st.sampled_from(
            [
                "tcp",
                "redis",
                "postgres",
                {"kind": "http", "path": "/h", "status": 204},
                {"kind": "command", "command": ["true", "{port}"]},
            ]
        ),
        "startup_timeout": st.sampled_from([1, 2.5, "30"]),
        "stop_timeout": st.sampled_from([1, "5"]),
        "cwd": st.sampled_from(["services/api", "."]),
        "env": st.sampled_from([{}, {"A": "1", "B": "{port}"}]),
        "exports": st.sampled_from([{}, {"URL": "{url}", "WS_URL": "ws://{host}:{port}/ws"}]),
        "password": st.sampled_from(["p", "p@ss:/"]),
        "durable": st.sampled_from([True, False, "${X:-false}"]),
        "bin_dir": st.just("/usr/lib/postgresql/15/bin"),
        "provider": st.sampled_from(["auto", "docker", "native", "${X:-auto}"]),
        "profiles": st.sampled_from([[], ["analytics"], "analytics, search", "${X:-search}"]),
    },
)
PORTS = st.integers(1, 65535) | st.sampled_from(["${X:-5432}", "6379"])
ARGVS = st.lists(argv_words, min_size=1, max_size=3)


@st.composite
def valid_service(draw: st.DrawFn, names: list[str]) -> dict[str, object]:
    """A service that validates on its own (depends_on may still loop or clash on ports)."""
    kind = draw(st.sampled_from(SERVICE_KINDS))
    svc: dict[str, object] = {"kind": kind, "port": draw(PORTS)}
    if kind == "process":
        svc["command"] = draw(ARGVS)
    elif kind == "postgres":
        svc["user"], svc["database"] = "${X:-u}", "app"
    else:
        svc["database"] = draw(st.sampled_from(["0", "1", "${Y:-2}"]))
    if draw(st.booleans()):
        deps = draw(st.lists(st.sampled_from(names), max_size=2, unique=True))
        # the first as a {service, condition} table, the rest as plain names
        svc["depends_on"] = [
            d if i else {"service": d, "condition": "started"} for i, d in enumerate(deps)
        ]
    return {**svc, **draw(OPTIONAL_FIELDS)}


@st.composite
def near_valid_manifests(draw: st.DrawFn) -> dict[str, object]:
    """A valid manifest, then up to three fields anywhere in it replaced by junk."""
    names = draw(st.lists(st.sampled_from(VALID_NAMES), min_size=1, max_size=4, unique=True))
    services: dict[str, object] = {name: draw(valid_service(names)) for name in names}
    table: dict[str, object] = {"services": services}
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["service", "service", "probe", "rename", "top"]))
        name = draw(st.sampled_from(names))
        svc = services.get(name)
        if where == "top":
            key = draw(st.sampled_from([*sorted(TOP_KEYS), "extra"]))
            table[key] = draw(junk)
        elif where == "rename" and name in services:
            services[draw(st.sampled_from(BAD_NAMES) | st.text(max_size=4))] = services.pop(name)
        elif isinstance(svc, dict) and where == "probe":
            probe = svc.get("probe")
            probe = dict(probe) if isinstance(probe, dict) else {"kind": "http"}
            probe[draw(st.sampled_from([*PROBE_KEYS, "timeout"]))] = draw(junk)
            svc["probe"] = probe
        elif isinstance(svc, dict):
            key = draw(st.sampled_from([*SERVICE_KEYS, "depends-on"]) | st.text(max_size=5))
            svc[key] = draw(junk)
    return table


tables: st.SearchStrategy[dict[str, object]] = st.one_of(
    near_valid_manifests(),
    near_valid_manifests(),
    near_valid_manifests(),
    st.dictionaries(keys, anything, max_size=3),
    st.dictionaries(
        st.sampled_from([*VALID_NAMES, *BAD_NAMES]) | st.text(max_size=6), anything, max_size=3
    ).map(lambda services: {"services": services}),
)
values = st.sampled_from(["5432", "test", "shard-1", "a{b", "", "x\n", "²"]) | st.text(max_size=8)
variables = st.fixed_dictionaries(
    {},
    optional={
        "X": values,
        "Y": values,
        "REALSTACK_INSTANCE": st.sampled_from(["shard-1", "ci.2"]) | values,
        "REALSTACK_STATE_DIR": st.sampled_from([".rs", "/var/tmp/rs"]) | values,
        "REALSTACK_PROFILES": st.sampled_from(["analytics", "search analytics", ""]) | values,
    },
)

_FULL_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_FULL_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A field path: a manifest field (keys that are not bare TOML keys quoted as TOML quotes them,
# list entries by index), or the variable or argument a value came from.
_SEGMENT = r'(?:\.(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*")|\[[0-9]+\])'
FIELD_PATH = re.compile(rf"tool\.realstack{_SEGMENT}*|REALSTACK_[A-Z_]+|env|instance")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables, variables=variables)
def test_any_manifest_is_a_valid_stack_or_a_config_error(
    table: dict[str, object], variables: dict[str, str]
) -> None:
    """build_stack accepts a sound stack or raises ConfigError at a field path, nothing else."""
    try:
        stack = build_stack(table, root=ROOT, env="test", variables=variables)
    except ConfigError as err:
        assert FIELD_PATH.fullmatch(err.path), err.path
        assert str(err) == f"{err.path}: {err.message}"
        assert "\n" not in err.path
        return
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", stack.instance), stack.instance
    assert all(_FULL_NAME.fullmatch(p) for p in stack.profiles), stack.profiles
    assert "\\x00" not in repr(stack)
    base = stack.state_dir.parent.resolve()
    assert base != ROOT and base not in ROOT.parents, stack.state_dir
    for svc in stack.services:
        assert fields.hostname(svc.host, "host") == svc.host
        assert all(_FULL_NAME.fullmatch(p) for p in svc.profiles), svc.profiles
        assert list(svc.profiles) == sorted(set(svc.profiles))
        if svc.kind == "clickhouse":
            assert svc.provider != "native"
        if svc.kind == "process":
            assert svc.provider == "native"
        assert _FULL_NAME.fullmatch(svc.name), svc.name
        assert 1 <= svc.port <= 65535
        assert all(_FULL_VAR.fullmatch(k) for k in svc.exports), dict(svc.exports)
        if svc.kind == "redis" and svc.database:
            assert re.fullmatch(r"[0-9]+", svc.database), svc.database


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(False, ()), (True, ("*",)), (["PYTHONPATH", "AWS_PROFILE"], ("PYTHONPATH", "AWS_PROFILE"))],
)
def test_inherit_env_is_false_true_or_a_list_of_names(
    raw: object, expected: tuple[str, ...]
) -> None:
    """What a process takes from the caller's shell beyond the base is the manifest's choice."""
    stack = build({"api": process(8080, inherit_env=raw)})
    assert stack.service("api").inherit_env == expected


def test_inherit_env_refuses_what_is_not_a_variable_name() -> None:
    """A typo is named with its index, not silently ignored."""
    with pytest.raises(ConfigError) as info:
        build({"api": process(8080, inherit_env=["PATH", "NOT A NAME"])})
    assert info.value.path == "tool.realstack.services.api.inherit_env[1]"


def test_the_root_may_be_given_as_a_string(tmp_path: Path) -> None:
    """`load_stack(".")` in a script or a REPL: a path as text is a path, not a traceback."""
    root = write_project(tmp_path, ENV_FILES)
    assert load_stack(str(root), environ={}).root == load_stack(root, environ={}).root


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("command", "uvicorn app:app", "a list of strings (an argv list, no shell)"),
        ("inherit_env", "yes", "true, false or a list of variable names"),
        ("inputs", "migrations/*", "a list of glob patterns (migrations/*.sql)"),
    ],
)
def test_a_list_field_given_a_string_says_what_the_field_takes(
    field: str, value: str, expected: str
) -> None:
    """Each list field says its own kind of list (inherit_env is no argv, as it used to read)."""
    kind = "task" if field == "inputs" else "process"
    fields: dict[str, Any] = {"kind": kind, "command": ["{python}"], field: value}
    if kind == "process":
        fields["port"] = 18301
    err = config_error({"app": fields})
    assert str(err) == f"{SVC}.app.{field}: expected {expected}"

"""The manifest: ``[tool.realstack]`` + envs/<env>.env + environment → a validated Stack.

Every mistake is a ``ConfigError`` whose ``path`` names the offending field.
"""

from __future__ import annotations

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

from realstack.errors import ConfigError, CycleError
from realstack.manifest import build_stack, load_stack
from realstack.model import PROBE_KINDS, SERVICE_KINDS, Dependency, Probe, Stack

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


@pytest.mark.parametrize("name", ["Backend", "my service", "1st", "a" * 64])
def test_invalid_service_name_is_rejected(name: str) -> None:
    """Service names become file names and env keys: lower-case, short, no spaces."""
    err = config_error({name: redis()})
    assert err.path == f"{SVC}.{name}"


def test_service_name_with_a_trailing_newline_is_rejected() -> None:
    """``"api\\n"`` is not a valid name (it would land in file names and log headers)."""
    err = config_error({"api\n": redis()})
    assert err.path == f"{SVC}.api\n"


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
    assert stack.state_dir == Path("/var/tmp/rs/shard-2")


@pytest.mark.parametrize("instance", ["../escape", "a b", "shard\n"])
def test_invalid_instance_name_is_rejected(instance: str) -> None:
    """The instance is a directory name: no separators, spaces or newlines."""
    err = config_error({"cache": redis()}, {"REALSTACK_INSTANCE": instance})
    assert err.path == "instance"


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


@pytest.mark.parametrize("name", ["BAD-NAME", "1URL", "URL\n"])
def test_export_names_must_be_environment_variable_names(name: str) -> None:
    """An export that no shell could read is rejected."""
    err = config_error({"api": process(8001, exports={name: "{url}"})})
    assert err.path == f"{SVC}.api.exports.{name}"


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
]
VALID_NAMES = ["api", "db", "cache", "auth-1", "x_1"]
BAD_NAMES = ["Api", "", "api\n", "a" * 70, "1st"]
SERVICE_KEYS = [
    "kind",
    "port",
    "host",
    "depends_on",
    "probe",
    "startup_timeout",
    "stop_timeout",
    "command",
    "cwd",
    "env",
    "exports",
    "user",
    "password",
    "database",
    "durable",
    "bin_dir",
]
PROBE_KEYS = ["kind", "path", "status", "command", "attempt_timeout"]

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
            key = draw(st.sampled_from(["default_env", "state_dir", "services", "extra"]))
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
    },
)

_FULL_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_FULL_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables, variables=variables)
def test_any_manifest_is_a_valid_stack_or_a_config_error(
    table: dict[str, object], variables: dict[str, str]
) -> None:
    """build_stack raises only ConfigError; what it accepts has valid names, ports and exports."""
    try:
        stack = build_stack(table, root=ROOT, env="test", variables=variables)
    except ConfigError as err:
        assert str(err)
        return
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", stack.instance), stack.instance
    for svc in stack.services:
        assert _FULL_NAME.fullmatch(svc.name), svc.name
        assert 1 <= svc.port <= 65535
        assert all(_FULL_VAR.fullmatch(k) for k in svc.exports), dict(svc.exports)
        if svc.kind == "redis" and svc.database:
            assert re.fullmatch(r"[0-9]+", svc.database), svc.database

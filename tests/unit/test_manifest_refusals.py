"""Bad manifests found by fuzzing the CLI: each is one ConfigError naming the field path, never
a traceback and never a silently accepted value.

The cases: a ``tool`` that is not a table, values nested too deeply, a host that is no host
name, a malformed ``${...}``, NUL characters, a state directory that is the project or above
it, errors without a field path, and secrets inside error messages.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from realstack.errors import ConfigError
from realstack.manifest import build_stack, load_stack
from realstack.model import Probe, Service, Stack
from realstack.project import find_root
from realstack.service_address import SERVICE_KEYS
from realstack.service_parts import PROBE_KEYS

ROOT = Path("/srv/project")
SVC = "tool.realstack.services"


def build(
    services: Mapping[str, Any], variables: Mapping[str, str] | None = None, **top: Any
) -> Stack:
    return build_stack(
        {"services": dict(services), **top}, root=ROOT, env="test", variables=variables or {}
    )


def refused(
    services: Mapping[str, Any], variables: Mapping[str, str] | None = None, **top: Any
) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        build(services, variables, **top)
    return info.value


def redis(**fields: Any) -> dict[str, Any]:
    return {"kind": "redis", "port": 6381, **fields}


def app(**fields: Any) -> dict[str, Any]:
    return {"kind": "process", "port": 8000, "command": ["{python}", "-m", "app"], **fields}


def project(root: Path, pyproject: str | bytes, env_file: str | bytes = "PORT=6390\n") -> Path:
    """A project directory with this pyproject.toml and envs/test.env."""
    body = pyproject.encode() if isinstance(pyproject, str) else pyproject
    (root / "pyproject.toml").write_bytes(body)
    (root / "envs").mkdir(exist_ok=True)
    (root / "envs" / "test.env").write_bytes(
        env_file.encode() if isinstance(env_file, str) else env_file
    )
    return root


MANIFEST = textwrap.dedent(
    """\
    [tool.realstack]
    default_env = "test"

    [tool.realstack.services.cache]
    kind = "redis"
    port = "${PORT}"
    """
)


def load_error(root: Path, env: str | None = None, **environ: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_stack(root, env, environ=environ)
    return info.value


# --------------------------------------------------------------------------- the model's keys


def test_every_field_of_the_model_is_a_manifest_key() -> None:
    """The accepted service and probe keys are the model's fields (``name`` is the table's)."""
    assert {f.name for f in dataclasses.fields(Service)} - {"name"} == SERVICE_KEYS
    assert {f.name for f in dataclasses.fields(Probe)} == PROBE_KEYS
    assert "compose_service" in SERVICE_KEYS


@pytest.mark.parametrize("key", sorted(SERVICE_KEYS))
def test_no_field_of_the_model_is_refused_as_an_unknown_key(key: str) -> None:
    """A junk value under any model field is refused for its value, never as "unknown key"."""
    try:
        build({"cache": {**redis(), key: ["junk", 1]}})
    except ConfigError as err:
        assert err.message != "unknown key", err


# --------------------------------------------------------------------------- a non-table `tool`


@pytest.mark.parametrize("tool", ["5", "['realstack']", "'realstack'", "true"])
def test_a_tool_that_is_not_a_table_is_a_config_error_at_tool(tmp_path: Path, tool: str) -> None:
    """``tool = 5`` (or a list, or the string 'realstack') names ``tool``: no TypeError."""
    project(tmp_path, f"tool = {tool}\n")
    err = load_error(tmp_path)
    assert err.path == "tool"
    assert "must be a table" in err.message
    assert str(tmp_path / "pyproject.toml") in err.message


def test_finding_the_root_stops_at_a_tool_that_is_not_a_table(tmp_path: Path) -> None:
    """The walk up from the cwd reports the broken pyproject instead of skipping it."""
    project(tmp_path, "tool = 'realstack'\n")
    (tmp_path / "sub").mkdir()
    with pytest.raises(ConfigError) as info:
        find_root(tmp_path / "sub")
    assert info.value.path == "tool"


def test_a_realstack_table_that_is_not_a_table_names_it(tmp_path: Path) -> None:
    """``[tool] realstack = 5`` names ``tool.realstack``."""
    project(tmp_path, "[tool]\nrealstack = 5\n")
    assert load_error(tmp_path).path == "tool.realstack"


def test_no_manifest_at_all_names_the_table_it_looked_for(tmp_path: Path) -> None:
    """A directory tree without ``[tool.realstack]`` is an error at ``tool.realstack``."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    err = load_error(tmp_path)
    assert err.path == "tool.realstack"
    assert "no pyproject.toml" in err.message


# --------------------------------------------------------------------------- nesting


@pytest.mark.parametrize(
    "value", ["[" * 3000 + "]" * 3000, "{a=" * 2000 + "1" + "}" * 2000], ids=["list", "table"]
)
def test_values_nested_beyond_the_parser_are_a_config_error(tmp_path: Path, value: str) -> None:
    """Thousands of nested brackets name the file instead of a RecursionError."""
    project(tmp_path, MANIFEST + f"command = {value}\n")
    err = load_error(tmp_path)
    assert err.path == str(tmp_path / "pyproject.toml")
    assert "nested too deeply" in err.message


def test_values_nested_deeper_than_any_field_are_refused_at_their_path() -> None:
    """Nesting TOML parses (dotted keys go thousands deep) is refused at the field."""
    deep: Any = "x"
    for _ in range(5000):
        deep = {"a": deep}
    err = refused({"cache": redis(env=deep)})
    assert err.path.startswith(f"{SVC}.cache.env.a.a")
    assert "nested more than" in err.message


def test_dotted_keys_thousands_deep_are_a_config_error(tmp_path: Path) -> None:
    """``[tool.realstack.services.cache.env.a.a…]`` loads, then is refused at its path."""
    project(tmp_path, MANIFEST + "[tool.realstack.services.cache.env" + ".a" * 3000 + "]\nb = 1\n")
    err = load_error(tmp_path)
    assert err.path.startswith(f"{SVC}.cache.env.a.a")


# --------------------------------------------------------------------------- hosts


@pytest.mark.parametrize(
    "host", ["a..b", "../../../../etc/passwd", "", ".", "a.", "-a", "a b", "1.2.3", "x" * 64, "h\n"]
)
def test_a_host_that_is_no_host_name_or_address_is_refused_at_its_field(host: str) -> None:
    """A process service with ``host = "a..b"`` fails at config time, naming the field."""
    err = refused({"api": app(host=host)})
    assert err.path == f"{SVC}.api.host"
    assert "not a host name or an IP address" in err.message


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "0.0.0.0", "::1", "localhost", "db.internal", "my_db-1", "10.0.0.2"]
)
def test_host_names_and_addresses_are_accepted(host: str) -> None:
    """IPv4, IPv6 and DNS names (underscores too, as container names have them) pass."""
    assert build({"api": app(host=host)}).service("api").host == host


def test_an_ipv6_host_is_bracketed_in_urls_and_exports() -> None:
    """``host = "::1"`` gives ``redis://[::1]:6381/0``, not a URL whose port cannot be read."""
    cache = build({"cache": redis(host="::1", exports={"U": "{url}", "H": "{host}"})})
    svc = cache.service("cache")
    assert svc.url == "redis://[::1]:6381/0"
    assert svc.exports["H"] == "[::1]"


# --------------------------------------------------------------------------- ${...}


@pytest.mark.parametrize(
    "value", ["${PORT", "x${", "${1X}", "${X:default}", "${X-default}", "${}", "${ X}"]
)
def test_a_malformed_variable_reference_is_refused(value: str) -> None:
    """An unterminated ``${VAR`` (or any ``${`` not of the two forms) names the field."""
    err = refused({"cache": redis(database=value)}, {"PORT": "1", "X": "2"})
    assert err.path == f"{SVC}.cache.database"
    assert "write ${NAME} or ${NAME:-default}" in err.message


def test_a_default_holding_another_reference_is_refused() -> None:
    """``${X:-${Y}}`` is not supported: refused rather than half-substituted."""
    err = refused({"cache": redis(database="${X:-${Y}}")}, {"Y": "1"})
    assert err.path == f"{SVC}.cache.database"


def test_a_reference_inside_a_variable_value_stays_literal() -> None:
    """Substituted text is not read again: a value holding ``${`` is taken as it is."""
    stack = build({"api": app(env={"A": "${V}"})}, {"V": "a${b"})
    assert stack.service("api").env["A"] == "a${b"


def test_a_malformed_reference_in_a_list_names_the_entry() -> None:
    """The error points at the list index."""
    err = refused({"api": app(command=["run", "--x=${X"])})
    assert err.path == f"{SVC}.api.command[1]"


# --------------------------------------------------------------------------- NUL


def test_a_nul_in_a_string_value_is_refused() -> None:
    """``password = "a\\u0000b"`` names the field."""
    err = refused({"cache": redis(password="a\0b")})
    assert err.path == f"{SVC}.cache.password"
    assert "NUL" in err.message


def test_a_nul_in_a_key_is_refused_at_the_quoted_key() -> None:
    """A NUL in a table key is refused; the path shows it escaped."""
    err = refused({"api": app(env={"A\0": "1"})})
    assert err.path == f'{SVC}.api.env."A\\u0000"'


def test_a_nul_from_a_variable_is_refused() -> None:
    """A variable whose value holds a NUL (an env file can) is refused where it is used."""
    err = refused({"cache": redis(user="${U}")}, {"U": "a\0"})
    assert err.path == f"{SVC}.cache.user"


def test_a_nul_in_the_state_dir_is_refused() -> None:
    """Top-level strings are checked too."""
    assert refused({"cache": redis()}, state_dir="a\0b").path == "tool.realstack.state_dir"


def test_a_nul_in_a_toml_file_is_refused_end_to_end(tmp_path: Path) -> None:
    """Through load_stack: ``"\\u0000"`` in TOML is refused at its field."""
    project(tmp_path, MANIFEST + 'password = "a\\u0000b"\n')
    assert load_error(tmp_path).path == f"{SVC}.cache.password"


# --------------------------------------------------------------------------- state_dir


@pytest.mark.parametrize("state_dir", ["/", ".", "", "..", "../..", "sub/..", "/srv"])
def test_a_state_dir_that_is_the_project_or_above_it_is_refused(state_dir: str) -> None:
    """State mixed into the project itself, a parent of it or / is a ConfigError."""
    err = refused({"cache": redis()}, state_dir=state_dir)
    assert err.path == "tool.realstack.state_dir"
    assert "use a directory of its own" in err.message


@pytest.mark.parametrize("state_dir", ["/proc/rs", "/sys", "/dev/shm/rs"])
def test_a_state_dir_on_a_kernel_filesystem_is_refused(state_dir: str) -> None:
    """/proc, /sys and /dev are no place for a state directory."""
    assert refused({"cache": redis()}, state_dir=state_dir).path == "tool.realstack.state_dir"


def test_a_bad_state_dir_from_the_environment_names_the_variable() -> None:
    """REALSTACK_STATE_DIR=/ is reported as REALSTACK_STATE_DIR, where the value came from."""
    err = refused({"cache": redis()}, {"REALSTACK_STATE_DIR": "/"})
    assert err.path == "REALSTACK_STATE_DIR"


@pytest.mark.parametrize("state_dir", [".realstack", "/var/tmp/rs", "../elsewhere", "sub/dir"])
def test_a_state_dir_of_its_own_is_accepted(state_dir: str) -> None:
    """Inside the project, beside it or elsewhere: fine, as long as it is its own."""
    build({"cache": redis()}, state_dir=state_dir)


# --------------------------------------------------------------------------- field paths


def test_an_unknown_default_env_names_the_manifest_field(tmp_path: Path) -> None:
    """The env came from ``default_env``: the error says so instead of "env"."""
    project(tmp_path, MANIFEST.replace('"test"', '"staging"'))
    err = load_error(tmp_path)
    assert err.path == "tool.realstack.default_env"
    assert "known: test" in err.message


def test_an_unknown_env_from_the_environment_names_realstack_env(tmp_path: Path) -> None:
    """REALSTACK_ENV=nope names REALSTACK_ENV."""
    project(tmp_path, MANIFEST)
    assert load_error(tmp_path, REALSTACK_ENV="../x").path == "REALSTACK_ENV"


def test_an_env_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    """Bytes that are no text name the env file instead of a UnicodeDecodeError."""
    project(tmp_path, MANIFEST, b"PORT=\xff\xfe\n")
    err = load_error(tmp_path)
    assert err.path == str(tmp_path / "envs" / "test.env")


def test_a_pyproject_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    """Same for pyproject.toml."""
    project(tmp_path, MANIFEST.encode() + b"# \xff\n")
    assert load_error(tmp_path).path == str(tmp_path / "pyproject.toml")


def test_a_pyproject_that_is_a_directory_is_skipped_like_a_missing_one(tmp_path: Path) -> None:
    """Only files count as manifests."""
    (tmp_path / "pyproject.toml").mkdir()
    assert load_error(tmp_path).path == "tool.realstack"


# --------------------------------------------------------------------------- secrets


def test_a_config_error_never_shows_a_secret_named_variable() -> None:
    """``port = "${APP_SECRET}"`` says what is wrong without printing the secret."""
    err = refused({"cache": redis(port="${APP_SECRET}")}, {"APP_SECRET": "hunter2-value"})
    assert err.path == f"{SVC}.cache.port"
    assert "hunter2-value" not in str(err)
    assert "***" in err.message


def test_a_config_error_never_shows_a_literal_password() -> None:
    """A password written in the manifest and reused in a wrong field stays hidden."""
    err = refused({"cache": redis(password="pw-literal-1", database="pw-literal-1")})
    assert "pw-literal-1" not in str(err)


def test_a_long_value_is_shown_shortened() -> None:
    """A 5000-character value is cut in the message, not printed whole."""
    err = refused({"cache": redis(port="9" * 5000)})
    assert len(str(err)) < 300

"""The env contract rendered as dotenv, JSON and shell, and read back by the tools that use it."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from hypothesis import given, settings
from hypothesis import strategies as st

from realstack.envfile import contract, render, write
from realstack.manifest import build_stack
from realstack.model import Stack
from realstack.state import InstancePaths


def exports(values: dict[str, str]) -> dict[str, str]:
    """The contract without its first entry, the instance id (checked to be there)."""
    first, *_ = values
    assert first == "REALSTACK_INSTANCE_ID"
    return {k: v for k, v in values.items() if k != first}


SEED = {
    "REALSTACK_INSTANCE_ID": "0123456789abcdef",
    "DATABASE_URL": "postgresql://test_user:test_pass@localhost:5434/app_test",
    "REDIS_URL": "redis://localhost:6381/1",
    "WEBSOCKET_URL": "ws://localhost:8001/ws",
}
AWKWARD = {
    "EMPTY": "",
    "SPACES": "  two  words  ",
    "HASH": "a #not a comment",
    "SINGLE": "it's",
    "DOUBLE": 'say "hi"',
    "BOTH": 'it\'s "both"',
    "DOLLAR": "$HOME and $(id) and `id`",
    "BACKSLASH_QUOTE": "it's C:\\temp\\dir",
    "UNICODE": "päss wörd ☃",
    "EQUALS": "a=b==c",
}


def parse_dotenv(text: str) -> dict[str, str | None]:
    return dict(dotenv_values(stream=io.StringIO(text)))


def source_in_shell(script: str, shell: str = "bash") -> dict[str, str]:
    """Source ``script`` with ``set -a`` in a clean shell and return its environment."""
    path = shutil.which(shell)
    assert path is not None, f"{shell} is required to check the shell format"
    done = subprocess.run(
        [path, "-c", "set -a && . /dev/stdin && env -0"],
        input=script.encode(),
        capture_output=True,
        env={},
        check=True,
    )
    pairs = (item.split("=", 1) for item in done.stdout.decode().split("\0") if item)
    return {k: v for k, v in pairs}


# --------------------------------------------------------------------------- formats


def test_dotenv_writes_plain_urls_bare() -> None:
    """URLs and words need no quotes: the file reads like the seeds' env files."""
    assert render(SEED, "dotenv") == "".join(f"{k}={v}\n" for k, v in SEED.items())


def test_dotenv_quotes_what_needs_quoting() -> None:
    """Spaces, quotes, ``#`` and ``$`` are quoted."""
    text = render(AWKWARD, "dotenv")
    lines = dict(line.split("=", 1) for line in text.splitlines())
    assert lines["EMPTY"] == ""
    assert lines["EQUALS"] == "a=b==c"
    for key in ("SPACES", "HASH", "SINGLE", "DOUBLE", "DOLLAR", "UNICODE"):
        assert lines[key][0] in "'\"", key


def test_dotenv_round_trips_awkward_values() -> None:
    """Every awkward value reads back unchanged with python-dotenv."""
    assert parse_dotenv(render(AWKWARD, "dotenv")) == AWKWARD


def test_dotenv_keeps_doubled_backslashes() -> None:
    """``\\\\server\\share`` style values keep every backslash (single quotes unescape them)."""
    values = {"UNC": "\\\\server\\share", "REGEX": "a\\\\b", "ESCAPES": "\\n\\t\\'"}
    assert parse_dotenv(render(values, "dotenv")) == values


def test_dotenv_keeps_a_trailing_newline() -> None:
    """A value ending in a newline is quoted, not written bare and truncated."""
    values = {"PEM_END": "abc\n", "ONLY_NEWLINE": "\n", "MIDDLE": "a\nb"}
    assert parse_dotenv(render(values, "dotenv")) == values


def test_json_is_the_same_mapping_in_order() -> None:
    """The JSON format is a plain object, keys in contract order."""
    text = render({**SEED, **AWKWARD}, "json")
    assert text.endswith("\n")
    loaded = json.loads(text)
    assert loaded == {**SEED, **AWKWARD}
    assert list(loaded) == [*SEED, *AWKWARD]


def test_shell_format_exports_each_value() -> None:
    """One ``export NAME=value`` line per variable, safe to eval."""
    text = render(SEED, "shell")
    assert text.splitlines() == [f"export {k}={v}" for k, v in SEED.items()]


def test_shell_format_survives_bash_unchanged() -> None:
    """Sourced by bash, quotes, ``$``, backticks and command substitutions stay literal."""
    loaded = source_in_shell(render(AWKWARD, "shell"))
    assert {k: loaded.get(k) for k in AWKWARD} == AWKWARD


def test_runtime_env_points_shells_at_the_shell_format(tmp_path: Path) -> None:
    """runtime.env is for dotenv loaders; its header sends shells to ``env.show -f shell``."""
    paths = InstancePaths(tmp_path)
    paths.ensure()
    write(paths, SEED, {})
    header = paths.runtime_env.read_text().splitlines()[0]
    assert header.startswith("#")
    assert "env.show -f shell" in header
    assert ". ./runtime.env" not in header


def test_contract_is_the_instance_id_plus_every_export_in_manifest_order() -> None:
    """The instance id first, then each service's exports; nothing that selects an env."""
    stack = build_stack(
        {
            "services": {
                "postgres": {"kind": "postgres", "port": 5434, "user": "u", "database": "d"},
                "redis": {"kind": "redis", "port": 6381, "database": "1"},
                "backend": {
                    "kind": "process",
                    "port": 8001,
                    "command": ["run"],
                    "exports": {"WEBSOCKET_URL": "ws://{host}:{port}/ws"},
                },
            }
        },
        root=Path("/srv/p"),
        env="test",
        variables={},
    )
    assert contract(stack) == {
        "REALSTACK_INSTANCE_ID": stack.instance_id,
        "DATABASE_URL": "postgresql://u@localhost:5434/d",
        "POSTGRES_SERVICE_URL": "postgresql://u@localhost:5434/d",
        "REDIS_URL": "redis://localhost:6381/1",
        "REDIS_SERVICE_URL": "redis://localhost:6381/1",
        "WEBSOCKET_URL": "ws://localhost:8001/ws",
    }
    assert next(iter(contract(stack))) == "REALSTACK_INSTANCE_ID"
    assert "REALSTACK_ENV" not in contract(stack)


# The analytics pieces sit behind profiles; postgres is always on.
PROFILED: dict[str, Any] = {
    "postgres": {"kind": "postgres", "port": 5434, "user": "u", "database": "d"},
    "clickhouse": {"kind": "clickhouse", "port": 8125, "password": "pw", "profiles": ["analytics"]},
    "search": {
        "kind": "process",
        "port": 8090,
        "command": ["run"],
        "profiles": "search, analytics",
        "exports": {"SEARCH_URL": "{url}"},
    },
}
PG_EXPORTS = {
    "DATABASE_URL": "postgresql://u@localhost:5434/d",
    "POSTGRES_SERVICE_URL": "postgresql://u@localhost:5434/d",
}
CH_EXPORTS = {
    "CLICKHOUSE_SERVICE_URL": "http://localhost:8125",
    "CLICKHOUSE_USER": "default",
    "CLICKHOUSE_PASSWORD": "pw",
    "CLICKHOUSE_DB": "default",
}
SEARCH_EXPORTS = {"SEARCH_URL": "http://localhost:8090"}


def profiled_stack(active: str = "") -> Stack:
    return build_stack(
        {"services": PROFILED},
        root=Path("/srv/p"),
        env="test",
        variables={"REALSTACK_PROFILES": active},
    )


def test_contract_leaves_out_services_whose_profiles_are_off() -> None:
    """With no profile active only the always-on services are described."""
    assert exports(contract(profiled_stack())) == {**PG_EXPORTS}


def test_contract_describes_the_services_of_active_profiles_in_manifest_order() -> None:
    """analytics turns on ClickHouse and search (search is in both of its profiles)."""
    values = exports(contract(profiled_stack("analytics")))
    assert values == {**PG_EXPORTS, **CH_EXPORTS, **SEARCH_EXPORTS}
    assert list(values) == [*PG_EXPORTS, *CH_EXPORTS, *SEARCH_EXPORTS]
    assert exports(contract(profiled_stack("search"))) == {
        **PG_EXPORTS,
        **SEARCH_EXPORTS,
    }


def test_contract_describes_running_services_whatever_their_profiles() -> None:
    """A service started by name (or --profile) is running, so its exports are in, in
    manifest order; names the stack does not have are ignored."""
    values = exports(contract(profiled_stack(), running=["clickhouse", "no-such-service"]))
    assert values == {**PG_EXPORTS, **CH_EXPORTS}
    assert list(values) == [*PG_EXPORTS, *CH_EXPORTS]


def test_running_does_not_drop_enabled_services() -> None:
    """``running`` only adds: an enabled service that is not running is still described."""
    assert exports(contract(profiled_stack(), running=["search"])) == {
        **PG_EXPORTS,
        **SEARCH_EXPORTS,
    }


@settings(max_examples=100, deadline=None)
@given(
    active=st.sets(st.sampled_from(["analytics", "search", "reports"])),
    running=st.sets(st.sampled_from([*PROFILED, "ghost"])),
)
def test_contract_is_the_exports_of_enabled_and_running_services(
    active: set[str], running: set[str]
) -> None:
    """For any active profiles and running set: exactly the exports of the services that are
    enabled or running, after the instance id, in manifest order."""
    on = {
        "postgres": True,
        "clickhouse": "analytics" in active,
        "search": bool(active & {"search", "analytics"}),
    }
    by_service = {"postgres": PG_EXPORTS, "clickhouse": CH_EXPORTS, "search": SEARCH_EXPORTS}
    expected: dict[str, str] = {}
    for name in PROFILED:
        if on[name] or name in running:
            expected.update(by_service[name])
    values = exports(contract(profiled_stack(" ".join(sorted(active))), running))
    assert values == expected
    assert list(values) == list(expected)


def test_write_produces_runtime_env_and_json_without_temp_files(tmp_path: Path) -> None:
    """runtime.env loads with python-dotenv; runtime.json adds status; nothing else is left."""
    paths = InstancePaths(tmp_path / "test")
    paths.ensure()
    write(paths, {**SEED, **AWKWARD}, {"status": "healthy", "took": 0.5})
    assert dict(dotenv_values(paths.runtime_env)) == {**SEED, **AWKWARD}
    data = json.loads(paths.runtime_json.read_text())
    assert data == {"status": "healthy", "took": 0.5, "env": {**SEED, **AWKWARD}}
    leftovers = {p.name for p in paths.root.iterdir()} - {"services", "logs", "data", ".gitignore"}
    assert leftovers == {"runtime.env", "runtime.json"}


# --------------------------------------------------------------------------- round trips

NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789"
env_names = st.text(st.sampled_from(NAME_CHARS), min_size=1, max_size=16).filter(
    lambda n: not n[0].isdigit()
)
# Values mix the characters quoting has to care about with the whole of Unicode (minus lone
# surrogates, which cannot be encoded). Excluded on purpose, because python-dotenv 1.x cannot
# represent them at all:
# - ``${``: it expands ``${NAME}`` in every value, quoted or not, and has no escape for it;
# - a trailing backslash: its quoted-value regexes read ``\'``/``\"`` before the closing quote
#   as an escaped quote and run on into later lines. (Bare values may end in a backslash, but
#   only when nothing else in them needs quoting; keeping that case out keeps the rule simple.)
SPECIAL = [*"\\'\" $#=`{}\n\t\r", "a", "é"]
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
env_values = (st.text(st.sampled_from(SPECIAL), max_size=12) | any_text).filter(
    lambda v: "${" not in v and not v.endswith("\\")
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(env_names, env_values, max_size=6))
def test_dotenv_round_trips_through_python_dotenv(values: dict[str, str]) -> None:
    """Any contract rendered as dotenv is read back identically by python-dotenv."""
    assert parse_dotenv(render(values, "dotenv")) == values


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(env_names, env_values, max_size=6))
def test_json_round_trips(values: dict[str, str]) -> None:
    """The JSON format is lossless."""
    assert json.loads(render(values, "json")) == values


# bash cannot hold NUL in a variable; names get a prefix so they never hit bash's own (UID, PWD…).
shell_values = (st.text(st.sampled_from(SPECIAL), max_size=12) | any_text).map(
    lambda v: v.replace("\0", "")
)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(env_names.map(lambda n: "RS_" + n), shell_values, max_size=6))
def test_shell_format_round_trips_through_bash(values: dict[str, str]) -> None:
    """Any contract rendered for the shell comes out of bash's environment unchanged."""
    exported = source_in_shell(render(values, "shell"))
    assert {k: exported.get(k) for k in values} == values

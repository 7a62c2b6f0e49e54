"""Bad input through the CLI: generated manifests, env files, variables and damaged state
directories, run as a user runs them (the ``realstack`` console script in a project).

The standard: bad input gets a clear error, never a traceback, and loses nothing. Exit 2 for
configuration/usage errors (the message names the field path), 1 for service/state failures,
0 otherwise; secrets are never printed; nothing is left running.

Most examples run ``services.status`` or ``services.stop`` (no server starts); a handful run
``services.start --wait --timeout 5`` for real.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Project, owned_by, plant, throwaway_project
from integration._support import distinct_free_ports
from realstack.manifest import TOP_KEYS
from realstack.model import CONDITIONS, PROBE_KINDS, PROVIDERS, SERVICE_KINDS
from realstack.service_address import SERVICE_KEYS
from realstack.service_parts import DEPENDENCY_KEYS, PROBE_KEYS

pytestmark = pytest.mark.integration

REALSTACK = str(Path(sys.executable).parent / "realstack")
SECRET = "fuzz-secret-7Qx9z"  # APP_SECRET: secret-named, must never be printed
PASSWORD = "fuzz-pw-3Kd8w"  # DB_PASSWORD: the postgres password, must never be printed
PORT_VARS = ("CACHE_PORT", "DB_PORT", "APP_PORT")


def fuzz_settings(examples: int) -> settings:
    """A bounded run: each example is a subprocess (~0.8 s), so few, and no deadline."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --------------------------------------------------------------------------- the checks

# A field path: a manifest field (keys that are no bare TOML key quoted as TOML quotes them,
# list entries by index), the variable or argument a value came from, or a file that is not
# TOML / dotenv at all.
_SEGMENT = r'(?:\.(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*")|\[[0-9]+\])'
FIELD_PATH = re.compile(
    rf"realstack: (?:tool(?:\.realstack{_SEGMENT}*)?|REALSTACK_[A-Z_]+"
    r"|env|instance|timeout|lines|only|name|provider|profile|format"
    r"|/\S+/(?:pyproject\.toml|envs/[^/\s]+\.env)): \S"
)


def realstack(root: Path, *args: str, environ: Mapping[str, str] | None = None) -> Done:
    """Run the console script in ``root`` with a clean environment plus ``environ``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALSTACK_") and k not in PORTS}
    done = subprocess.run(
        [REALSTACK, *args],
        cwd=root,
        env={**env, **(environ or {})},
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
        check=False,
    )
    return Done(args, done.returncode, done.stdout, done.stderr)


PORTS = {*PORT_VARS, "APP_SECRET", "DB_PASSWORD"}


@dataclass(frozen=True)
class Done:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"realstack {' '.join(self.args)} → exit {self.code}\n{self.stdout}\n{self.stderr}"


def assert_clean(done: Done, root: Path) -> None:
    """No traceback, a known exit code, exit 2 naming a field path, exit 1 saying why, no
    secret anywhere, and nothing of the project left running."""
    both = done.stdout + done.stderr
    assert "Traceback" not in both, done
    assert done.code in (0, 1, 2), done
    assert SECRET not in both, done
    assert PASSWORD not in both, done
    lines = done.stderr.splitlines()
    if done.code == 2:
        assert any(FIELD_PATH.match(line) for line in lines), done
    if done.code == 1:
        assert any(line.startswith(("realstack: ", "✗ ")) for line in lines), done
    assert owned_by(root) == [], done


# --------------------------------------------------------------------------- writing TOML

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's; DEL must be escaped too)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_key(key: str) -> str:
    return key if _BARE.fullmatch(key) else toml_string(key)


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_document(table: Mapping[str, Any]) -> bytes:
    """``[tool.realstack]`` with ``table``; each service (when a table) under its own header."""
    lines = ["[project]", 'name = "fuzzed"', "", "[tool.realstack]"]
    services = table.get("services")
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items() if k != "services"]
    if isinstance(services, dict):
        for name, svc in services.items():
            if isinstance(svc, dict):
                lines += ["", f"[tool.realstack.services.{toml_key(name)}]"]
                lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in svc.items()]
            else:
                lines += ["", "[tool.realstack.services]", f"{toml_key(name)} = {toml_value(svc)}"]
    elif "services" in table:
        lines.append(f"services = {toml_value(services)}")
    return ("\n".join(lines) + "\n").encode()


# --------------------------------------------------------------------------- the inputs


def base_services() -> dict[str, Any]:
    """A valid stack: redis, postgres (with a password) and an HTTP process."""
    return {
        "cache": {"kind": "redis", "port": "${CACHE_PORT}", "database": "1", "durable": False},
        "db": {
            "kind": "postgres",
            "port": "${DB_PORT}",
            "user": "u",
            "password": "${DB_PASSWORD}",
            "database": "d",
            "durable": False,
        },
        "app": {
            "kind": "process",
            "port": "${APP_PORT}",
            "command": ["{python}", "-m", "http.server", "--bind", "{host}", "{port}"],
            "depends_on": ["cache"],
            "env": {"APP_SECRET": "${APP_SECRET}"},
            "probe": {"kind": "http", "path": "/"},
            "startup_timeout": 5,
        },
    }


NAMES = list(base_services())
TRICKY = [
    *SERVICE_KINDS,
    *PROBE_KINDS,
    *PROVIDERS,
    *CONDITIONS,
    *NAMES,
    "${APP_SECRET}",
    "${DB_PASSWORD}",
    "x${APP_SECRET}y",
    "${X",
    "${",
    "${X:-${Y}}",
    "${1X}",
    "${UNSET}",
    "${UNSET:-7}",
    "{port}",
    "{nope}",
    "{",
    "}",
    "a\0b",
    "a..b",
    "../../../../etc/passwd",
    "::1",
    "0.0.0.0",
    "5432",
    "0",
    "-1",
    "99999",
    " 80 ",
    "1e3",
    "nan",
    "true",
    "off",
    "/health",
    "9" * 400,
    "",
    "é",
    "\n",
    "analytics",
]
BAD_NAMES = ["Api", "", "api\n", "a" * 70, "1st", "a.b", "a b", "ü"]
STATE_DIRS = [".", "", "/", "..", "../..", "sub/..", "/proc/rs", "afile", "afile/sub", "sub/state"]
# Keys come from the model (and the manifest's constants derived from it), plus near misses.
MODEL_KEYS = sorted(SERVICE_KEYS | PROBE_KEYS | TOP_KEYS | DEPENDENCY_KEYS)


def nested(depth: int) -> object:
    value: object = "x"
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


keys = st.sampled_from([*MODEL_KEYS, *NAMES, "depends-on"]) | st.text(max_size=5)
leaves: st.SearchStrategy[object] = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(TRICKY),
)
values: st.SearchStrategy[object] = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=6,
)
deep = st.sampled_from([17, 40, 150]).map(nested)  # beyond the depth limit, within TOML's
junk: st.SearchStrategy[object] = st.one_of(values, values, values, values, deep)


@st.composite
def near_valid_tables(draw: st.DrawFn) -> dict[str, Any]:
    """The valid stack with up to three changes: a junk value at a model key (service, probe,
    dependency or top level), a bad name, a key removed."""
    services: dict[str, Any] = base_services()
    table: dict[str, Any] = {"default_env": "test", "services": services}
    for _ in range(draw(st.integers(0, 3))):
        what = draw(st.sampled_from(["service", "service", "service", "probe", "dep", "top"]))
        name = draw(st.sampled_from(NAMES))
        svc = services.get(name)
        if what == "top":
            key = draw(st.sampled_from([*sorted(TOP_KEYS), "extra"]))
            table[key] = draw(st.sampled_from(STATE_DIRS) if key == "state_dir" else junk)
        elif not isinstance(svc, dict):
            continue
        elif what == "probe":
            probe = dict(svc.get("probe") or {"kind": "http"})
            probe[draw(st.sampled_from([*sorted(PROBE_KEYS), "timeout"]))] = draw(junk)
            svc["probe"] = probe
        elif what == "dep":
            dep = {k: draw(junk | st.sampled_from(NAMES)) for k in sorted(DEPENDENCY_KEYS)}
            svc["depends_on"] = [dep, draw(st.sampled_from(NAMES) | junk)]
        elif draw(st.integers(0, 5)) == 0:
            services[draw(st.sampled_from(BAD_NAMES) | st.text(max_size=4))] = services.pop(name)
        elif draw(st.integers(0, 5)) == 0:
            svc.pop(draw(st.sampled_from(sorted(SERVICE_KEYS))), None)
        else:
            key = draw(st.sampled_from([*sorted(SERVICE_KEYS), "bogus", "depends-on"]))
            svc[key] = draw(junk)
    return table


# Valid alternatives per model key, for the real starts: most of them come up.
PLAUSIBLE: dict[str, list[object]] = {
    "host": ["127.0.0.1", "localhost"],
    "durable": [True, False, "false"],
    "startup_timeout": [3, "4.5"],
    "stop_timeout": [1, "2"],
    "probe": ["tcp", {"kind": "http", "path": "/", "status": 200}],
    "depends_on": [[], ["cache"], [{"service": "cache", "condition": "started"}]],
    "profiles": [[], ["analytics"]],
    "env": [{}, {"A_TOKEN": "${APP_SECRET}", "B": "{port}"}],
    "exports": [{"APP_URL": "http://{host}:{port}"}],
}
assert set(PLAUSIBLE) <= SERVICE_KEYS


@st.composite
def plausible_tables(draw: st.DrawFn) -> dict[str, Any]:
    """redis + the HTTP process, each with up to two model keys set to valid alternatives
    (and, one time in four, one junk value): what a real start is worth spending time on."""
    services = {k: v for k, v in base_services().items() if k != "db"}  # initdb is slow
    for svc in services.values():
        for key in draw(st.lists(st.sampled_from(sorted(PLAUSIBLE)), max_size=2, unique=True)):
            if key != "probe" or svc["kind"] == "process":
                svc[key] = draw(st.sampled_from(PLAUSIBLE[key]))
    if draw(st.integers(0, 3)) == 0:
        services["app"][draw(st.sampled_from(sorted(SERVICE_KEYS)))] = draw(junk)
    return {"default_env": "test", "services": services}


VALID = toml_document({"default_env": "test", "services": base_services()})
RAW_DOCUMENTS = [
    b"tool = 5\n",
    b"tool = ['realstack']\n",
    b"tool = 'realstack'\n",
    b"[tool]\nrealstack = 5\n",
    b"[tool]\nrealstack = []\n",
    b"[tool.realstack]\n",
    b"[tool.realstack]\nservices = {}\n",
    b"",
    b"[tool.realstack\n",
    b"\xef\xbb\xbf" + VALID,
    VALID + b"\n# \xff\xfe\n",
    VALID + b"command = " + b"[" * 600 + b"]" * 600 + b"\n",
    VALID + b"env = " + b"{a=" * 450 + b"1" + b"}" * 450 + b"\n",
    VALID + b"[tool.realstack.services.app.env" + b".a" * 300 + b"]\nb = 1\n",
    VALID.replace(b'"${CACHE_PORT}"', b'"${CACHE_PORT"'),
    VALID.replace(b'"u"', b'"u\\u0000"'),
]


@dataclass
class Case:
    """One generated input: the files of the project, the variables, the command."""

    pyproject: bytes
    env_file: bytes | None = None  # None: the usual one with ports and secrets
    environ: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ("services.status",)


def env_file(ports: Mapping[str, int], extra: bytes = b"") -> bytes:
    """The env file: the ports, the two secrets, and ``extra`` lines (later ones win)."""
    values = {**{k: str(v) for k, v in ports.items()}, "APP_SECRET": SECRET}
    values["DB_PASSWORD"] = PASSWORD
    return "".join(f"{k}={v}\n" for k, v in values.items()).encode() + extra


# A NUL in a value, an unterminated ${ in one, an emptied port, bytes that are no UTF-8.
ENV_EXTRAS = [b"", b"CACHE_PORT=1\x00\n", b"X=${Y\n", b"APP_PORT=\n", b"\xff=1\n"]
ENVIRONS: st.SearchStrategy[dict[str, str]] = st.one_of(
    st.just({}),
    st.just({}),
    st.just({}),
    st.fixed_dictionaries(
        {},
        optional={
            "REALSTACK_STATE_DIR": st.sampled_from(STATE_DIRS),
            "REALSTACK_ENV": st.sampled_from(["nope", "../x", "test", "a b"]),
            "REALSTACK_INSTANCE": st.sampled_from(["a b", "x/y", "shard-1", "é"]),
            "REALSTACK_PROFILES": st.sampled_from(["bad name", "analytics", "x,,y", "Ü"]),
        },
    ),
)
COMMANDS = st.sampled_from([("services.status",)] * 3 + [("services.stop",)])


def write_case(project: Project, case: Case, ports: Mapping[str, int]) -> None:
    """Lay the case out in the (reused) project directory, removing the last one's files."""
    for child in project.root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    (project.root / "pyproject.toml").write_bytes(case.pyproject)
    (project.root / "envs").mkdir()
    body = case.env_file if case.env_file is not None else env_file(ports)
    (project.root / "envs" / "test.env").write_bytes(body)
    (project.root / "afile").write_text("a file, not a directory\n")


def run_case(project: Project, case: Case, ports: Mapping[str, int]) -> Done:
    write_case(project, case, ports)
    done = realstack(project.root, *case.command, environ=case.environ)
    assert_clean(done, project.root)
    assert (project.root / "afile").read_text() == "a file, not a directory\n"  # loses nothing
    return done


# --------------------------------------------------------------------------- the fuzz


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return dict(zip(PORT_VARS, distinct_free_ports(len(PORT_VARS)), strict=True))


def test_any_near_valid_manifest_gets_a_clean_answer(ports: dict[str, int]) -> None:
    """status/stop over ~100 mutated manifests: exit 0/1/2, no traceback, no secret, field paths."""
    with throwaway_project("realstack-fuzz-") as project:

        @fuzz_settings(100)
        @given(table=near_valid_tables(), environ=ENVIRONS, command=COMMANDS)
        def check(table: dict[str, Any], environ: dict[str, str], command: tuple[str]) -> None:
            run_case(project, Case(toml_document(table), None, environ, command), ports)

        check()


def test_any_odd_document_env_file_or_variable_gets_a_clean_answer(
    ports: dict[str, int],
) -> None:
    """status/stop over odd documents, broken env files and bad REALSTACK_* get clean answers."""
    with throwaway_project("realstack-fuzz-") as project:

        @fuzz_settings(60)
        @given(
            document=st.sampled_from(RAW_DOCUMENTS) | st.just(VALID),
            extra=st.sampled_from(ENV_EXTRAS),
            environ=ENVIRONS,
            command=COMMANDS,
        )
        def check(
            document: bytes, extra: bytes, environ: dict[str, str], command: tuple[str]
        ) -> None:
            run_case(project, Case(document, env_file(ports, extra), environ, command), ports)

        check()


def test_a_few_real_starts_of_plausible_manifests_leave_nothing_running() -> None:
    """Eight real starts of generated manifests answer cleanly and leave nothing after the stop."""
    with throwaway_project("realstack-fuzz-start-") as project:

        @fuzz_settings(8)
        @given(table=plausible_tables())
        def check(table: dict[str, Any]) -> None:
            ports = dict(zip(PORT_VARS, distinct_free_ports(len(PORT_VARS)), strict=True))
            case = Case(
                toml_document(table), command=("services.start", "--wait", "--timeout", "5")
            )
            write_case(project, case, ports)
            started = realstack(project.root, *case.command)
            stopped = realstack(project.root, "services.stop")
            assert "Traceback" not in started.stdout + started.stderr, started
            assert started.code in (0, 1, 2), started
            assert SECRET not in started.stdout + started.stderr, started
            if started.code == 2:
                assert any(FIELD_PATH.match(line) for line in started.stderr.splitlines())
            assert_clean(stopped, project.root)

        check()


# --------------------------------------------------------------------------- damaged state


STATE = Path(".realstack") / "test"
DAMAGE: dict[str, tuple[Path, str]] = {
    "services is a file": (STATE / "services", "file"),
    "logs is a file": (STATE / "logs", "file"),
    "data is a file": (STATE / "data", "file"),
    "the instance directory is a file": (STATE, "file"),
    "the state base is a file": (Path(".realstack"), "file"),
    "the lock is a directory": (STATE / "lock", "dir"),
    "runtime.env is a directory": (STATE / "runtime.env", "dir"),
    "runtime.json is a directory": (STATE / "runtime.json", "dir"),
    "a record is a directory": (STATE / "services" / "cache.json", "dir"),
    "a record is a FIFO": (STATE / "services" / "cache.json", "fifo"),
    "a log is a directory": (STATE / "logs" / "cache.log", "dir"),
}
REDIS_ONLY = """
[tool.realstack.services.cache]
kind = "redis"
port = "${CACHE_PORT}"
durable = false
"""


def damage(root: Path, where: Path, kind: str) -> Path:
    return plant(root / where, kind)


def intact(path: Path, kind: str) -> bool:
    if kind == "file":
        return path.read_text() == "someone's notes\n"
    if kind == "dir":
        return (path / "inside").read_text() == "keep me\n"
    return path.is_fifo()


COMMANDS_ON_STATE = [
    ("services.status",),
    ("services.stop",),
    ("services.start", "--wait", "--timeout", "5"),
]


@pytest.mark.parametrize("command", COMMANDS_ON_STATE, ids=lambda c: c[0])
@pytest.mark.parametrize("name", list(DAMAGE))
def test_a_damaged_state_dir_is_one_message_naming_the_path_and_the_fix(
    project: Project, name: str, command: tuple[str, ...]
) -> None:
    """Each damage is exit 1 with the path and the fix, before anything starts; it is kept as is."""
    project.write(REDIS_ONLY, {"CACHE_PORT": str(distinct_free_ports(1)[0])})
    where, kind = DAMAGE[name]
    path = damage(project.root, where, kind)
    done = realstack(project.root, *command)
    assert_clean(done, project.root)
    assert done.code == 1, done
    assert str(path) in done.stderr, done
    assert "move it aside" in done.stderr or "REALSTACK_STATE_DIR" in done.stderr, done
    assert not re.search(r"\bcache\s+starting\b", done.stdout), done  # said before it started
    assert intact(path, kind)
    assert not (project.root / STATE / "runtime.env").is_file()


@pytest.mark.parametrize(
    ("value", "code", "named"),
    [
        ("afile", 1, "afile"),  # a file
        ("afile/sub", 1, "afile"),  # under a file
        ("/", 2, "REALSTACK_STATE_DIR"),
        (".", 2, "REALSTACK_STATE_DIR"),
        ("/proc/1/nope", 2, "REALSTACK_STATE_DIR"),
    ],
)
@pytest.mark.parametrize("command", COMMANDS_ON_STATE[:2], ids=lambda c: c[0])
def test_a_state_dir_variable_pointing_nowhere_usable_is_one_message(
    project: Project, value: str, code: int, named: str, command: tuple[str, ...]
) -> None:
    """REALSTACK_STATE_DIR at a file, under a file, at / or the project, under /proc."""
    project.write(REDIS_ONLY, {"CACHE_PORT": str(distinct_free_ports(1)[0])})
    (project.root / "afile").write_text("keep me\n")
    done = realstack(project.root, *command, environ={"REALSTACK_STATE_DIR": value})
    assert_clean(done, project.root)
    assert done.code == code, done
    assert named in done.stderr, done
    assert (project.root / "afile").read_text() == "keep me\n"


# Comes up, and on the way puts a directory where runtime.env goes: the damage happens after
# every up-front check, so only the final write of the env contract can meet it.
VANDAL = (
    "import os, socket, sys, time; os.mkdir(sys.argv[1]); "
    "s = socket.create_server(('127.0.0.1', int(sys.argv[2]))); time.sleep(120)"
)
LATE_DAMAGE = textwrap.dedent(
    f"""
    [tool.realstack.services.cache]
    kind = "redis"
    port = "${{CACHE_PORT}}"
    durable = false

    [tool.realstack.services.vandal]
    kind = "process"
    port = "${{APP_PORT}}"
    depends_on = ["cache"]
    command = ["{{python}}", "-c", {json.dumps(VANDAL)}, "{{root}}/{STATE}/runtime.env", "{{port}}"]
    """
)


def test_a_start_that_fails_after_everything_is_up_rolls_back(project: Project) -> None:
    """runtime.env turned into a directory during the start: exit 1 naming it, and a rollback."""
    cache, app = distinct_free_ports(2)
    project.write(LATE_DAMAGE, {"CACHE_PORT": str(cache), "APP_PORT": str(app)})
    done = realstack(project.root, "services.start", "--wait", "--timeout", "10")
    assert_clean(done, project.root)
    assert done.code == 1, done
    runtime_env = project.root / STATE / "runtime.env"
    assert str(runtime_env) in done.stderr, done
    for name in ("cache", "vandal"):
        assert re.search(rf"\b{name}\s+rollback\b", done.stdout), done
    assert runtime_env.is_dir()
    assert list((project.root / STATE / "services").iterdir()) == []


SERVE = 'command = ["{python}", "-m", "http.server", "{port}"]\n'
COMMAND_TYPOS = {
    "command[0]": (SERVE.replace("{python}", "pythonn"), "'pythonn' is not found"),
    "cwd": (SERVE + 'cwd = "nope"', "does not exist"),
    "python": (SERVE, "pythn does not exist"),
}


@pytest.mark.parametrize("typo", sorted(COMMAND_TYPOS))
def test_a_command_that_cannot_run_is_exit_2_before_anything_starts(
    project: Project, typo: str
) -> None:
    """A typo in an app's command, cwd or the top-level python: one message naming the field,
    exit 2, and its dependency is not started (and rolled back) on the way."""
    lines, says = COMMAND_TYPOS[typo]
    python = 'python = ".venv/bin/pythn"\n' if typo == "python" else ""
    manifest = f'{python}{REDIS_ONLY}\n[tool.realstack.services.app]\nkind = "process"\n'
    manifest += f'port = "${{APP_PORT}}"\ndepends_on = ["cache"]\n{lines}\n'
    cache, app = distinct_free_ports(2)
    project.write(manifest, {"CACHE_PORT": str(cache), "APP_PORT": str(app)})
    done = realstack(project.root, "services.start", "--wait", "--timeout", "10")
    assert_clean(done, project.root)
    assert done.code == 2, done
    field = "command[0]" if typo == "python" else typo
    assert f"realstack: tool.realstack.services.app.{field}: " in done.stderr, done
    assert says in done.stderr, done
    assert "unexpected" not in done.stderr, done
    assert not re.search(r"\bcache\s+starting\b", done.stdout), done  # nor rolled back


def test_a_bin_dir_without_the_server_is_exit_2_and_no_other_server_runs(project: Project) -> None:
    """A pinned bin_dir that does not hold the server: said, never another build instead."""
    project.write(
        'provider = "native"\n' + REDIS_ONLY + 'bin_dir = "/nonexistent/bin"\n',
        {"CACHE_PORT": str(distinct_free_ports(1)[0])},
    )
    done = realstack(project.root, "services.start", "--wait", "--timeout", "10")
    assert_clean(done, project.root)
    assert done.code == 2, done
    assert "tool.realstack.services.cache.bin_dir: /nonexistent/bin does not exist" in done.stderr


def test_the_console_script_maps_each_fuzz_finding_to_its_exit_code(project: Project) -> None:
    """Each traceback the outside fuzzer found is now exit 2 with a message naming its field."""
    findings: dict[str, tuple[bytes, str]] = {
        "tool = 5": (b"tool = 5\n", "realstack: tool: "),
        "deep nesting": (VALID + b"command = " + b"[" * 3000 + b"]" * 3000, "pyproject.toml: "),
        "host a..b": (VALID.replace(b"durable = false\n", b'host = "a..b"\n', 1), ".host: "),
        "unterminated ${VAR": (VALID.replace(b'"${CACHE_PORT}"', b'"${CACHE_PORT"'), ".port: "),
        "NUL": (VALID.replace(b'"d"', b'"d\\u0000"'), "services.db.database: "),
        'state_dir = "/"': (
            VALID.replace(b'default_env = "test"', b'default_env = "test"\nstate_dir = "/"'),
            "tool.realstack.state_dir: ",
        ),
    }
    ports = dict(zip(PORT_VARS, distinct_free_ports(len(PORT_VARS)), strict=True))
    for name, (document, says) in findings.items():
        done = run_case(project, Case(document), ports)
        assert done.code == 2, (name, str(done))
        assert says in done.stderr, (name, str(done))

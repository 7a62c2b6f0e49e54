"""`realstack init`: starter files that load with realstack's own loader, written once.

Specification: the manifest loads for test and dev (distinct ports; test not durable); an app
that is found becomes a process service, one that is not stays a commented-out example; a
second run changes nothing and says what exists; nothing is overwritten without --force, and
an existing [tool.realstack] or noxfile.py never; bad input changes nothing.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from realstack import scaffold, tasks
from realstack.errors import ConfigError
from realstack.manifest import load_stack
from realstack.model import Stack
from realstack.scaffold import Line

STARLETTE_APP = """\
from starlette.applications import Starlette
from starlette.routing import Route

app = Starlette(routes=[Route("/health", lambda request: None)])
"""
FASTAPI_APP = """\
import fastapi

api: fastapi.FastAPI = fastapi.FastAPI(title="x")
"""


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def loaded(root: Path, env: str) -> Stack:
    return load_stack(root, env, environ={})


def by_what(lines: list[Line]) -> dict[str, Line]:
    return {line.what: line for line in lines if line.verb != "note"}


# --------------------------------------------------------------------------- the starter manifest


@pytest.mark.parametrize("env", ["test", "dev"])
def test_the_starter_manifest_loads_with_postgres_and_redis(tmp_path: Path, env: str) -> None:
    scaffold.init(tmp_path)
    stack = loaded(tmp_path, env)
    assert [s.name for s in stack.services] == ["postgres", "redis"]
    assert all(s.durable == (env == "dev") for s in stack.services)


def test_test_and_dev_run_side_by_side_on_distinct_ports(tmp_path: Path) -> None:
    scaffold.init(tmp_path)
    test, dev = ({s.port for s in loaded(tmp_path, env).services} for env in ("test", "dev"))
    assert test.isdisjoint(dev)


@pytest.mark.parametrize(
    ("source", "code", "target", "probe"),
    [
        ("app/main.py", STARLETTE_APP, "app.main:app", ("http", "/health")),
        ("main.py", FASTAPI_APP, "main:api", ("http", "/docs")),
        (
            "main.py",
            "from starlette.applications import Starlette\napp = Starlette()\n",
            "main:app",
            ("tcp", "/"),
        ),
    ],
)
def test_an_asgi_app_found_becomes_a_uvicorn_process_service(
    tmp_path: Path, source: str, code: str, target: str, probe: tuple[str, str]
) -> None:
    """It waits for postgres and redis, answers its probe, and exports its URL."""
    (tmp_path / source).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / source).write_text(code)
    scaffold.init(tmp_path)
    app = loaded(tmp_path, "test").service("app")
    assert app.kind == "process"
    assert app.command[1:4] == ("-m", "uvicorn", target)
    assert app.cwd == tmp_path / "."
    assert [d.service for d in app.depends_on] == ["postgres", "redis"]
    assert (app.probe.kind, app.probe.path) == probe
    assert app.exports == {"APP_SERVICE_URL": f"http://localhost:{app.port}"}


def test_a_console_script_whose_module_holds_an_app_is_served_from_src(tmp_path: Path) -> None:
    """[project.scripts] points at the package; the app is found in its module (src layout)."""
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "Shop-API"\nversion = "1"\n[project.scripts]\nshop = "shop.cli:main"\n'
    )
    (tmp_path / "src" / "shop").mkdir(parents=True)
    (tmp_path / "src" / "shop" / "cli.py").write_text(STARLETTE_APP)
    scaffold.init(tmp_path)
    stack = loaded(tmp_path, "test")
    assert stack.service("app").command[3] == "shop.cli:app"
    assert stack.service("app").cwd == tmp_path / "src"
    assert stack.service("postgres").database == "shop_api_test"


def test_without_an_app_the_process_service_is_a_commented_out_example(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project.scripts]\ntool = "tool.run:main"\n')
    lines = scaffold.init(tmp_path)
    text = (tmp_path / "pyproject.toml").read_text()
    assert "# [tool.realstack.services.app]" in text
    assert "tool.run:app" in text
    assert "app" not in loaded(tmp_path, "test").names
    assert Line("note", "app", "none found: a commented-out example is in the manifest") in lines


def test_alembic_is_a_commented_out_migrate_task_and_a_note(tmp_path: Path) -> None:
    (tmp_path / "alembic.ini").write_text("[alembic]\n")
    lines = scaffold.init(tmp_path)
    text = (tmp_path / "pyproject.toml").read_text()
    assert '# kind = "task"' in text
    assert '{ service = "migrate", condition = "completed" }' in text
    assert any(line.what == "alembic.ini" and "`task`" in line.detail for line in lines)
    assert "migrate" not in loaded(tmp_path, "test").names


# --------------------------------------------------------------------------- the other files


def test_an_existing_pyproject_gets_the_section_appended_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    before = '[project]\nname = "shop"\nversion = "1"\n\n[tool.ruff]\nline-length = 99'
    (tmp_path / "pyproject.toml").write_text(before)
    scaffold.init(tmp_path)
    text = (tmp_path / "pyproject.toml").read_text()
    assert text.startswith(before + "\n")
    doc = tomllib.loads(text)
    assert doc["project"] == {"name": "shop", "version": "1"}
    assert doc["tool"]["ruff"] == {"line-length": 99}


def test_tasks_py_is_the_two_line_namespace_of_realstack(tmp_path: Path) -> None:
    scaffold.init(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile((tmp_path / "tasks.py").read_text(), "tasks.py", "exec"), namespace)
    assert namespace["ns"] is tasks.namespace


def test_the_noxfile_compiles_and_has_an_e2e_session(tmp_path: Path) -> None:
    scaffold.init(tmp_path)
    text = (tmp_path / "noxfile.py").read_text()
    compile(text, "noxfile.py", "exec")
    assert "def e2e(session: nox.Session)" in text


def test_the_state_directory_is_ignored_by_git(tmp_path: Path) -> None:
    scaffold.init(tmp_path)
    assert "*" in (tmp_path / ".realstack" / ".gitignore").read_text().splitlines()


def test_init_is_a_task_at_the_root_of_the_namespace() -> None:
    """`realstack init` and `invoke init` both find it."""
    assert "init" in tasks.namespace.task_names


# --------------------------------------------------------------------------- never twice


def test_a_second_run_changes_nothing_and_says_what_exists(tmp_path: Path) -> None:
    scaffold.init(tmp_path)
    before = files(tmp_path)
    lines = scaffold.init(tmp_path)
    assert files(tmp_path) == before
    assert {line.verb for line in lines} <= {"exists", "note"}
    assert by_what(lines)["pyproject.toml"].detail == "already has [tool.realstack]; left as it is"


def test_an_app_written_after_the_manifest_is_named_as_missing_from_it(tmp_path: Path) -> None:
    """init first, the app later, init again: the note named the app as if it had been added
    (the manifest is left as it is); now it says the app is not in it. Once it is, no word."""
    scaffold.init(tmp_path)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text(STARLETTE_APP)

    notes = [line.detail for line in scaffold.init(tmp_path) if line.what == "app"]

    assert notes[0] == (
        "app/main.py: uvicorn app.main:app, GET /health; not in your manifest: add it as a "
        '`kind = "process"` service'
    )
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "app").mkdir()
    (fresh / "app" / "main.py").write_text(STARLETTE_APP)
    scaffold.init(fresh)
    again = [line.detail for line in scaffold.init(fresh) if line.what == "app"]
    assert again[0] == "app/main.py: uvicorn app.main:app, GET /health"


def test_a_changed_file_is_kept_unless_force(tmp_path: Path) -> None:
    scaffold.init(tmp_path)
    env_file = tmp_path / "envs" / "test.env"
    env_file.write_text("POSTGRES_PORT=1\n")
    kept = by_what(scaffold.init(tmp_path))["envs/test.env"]
    assert (kept.verb, kept.detail) == ("exists", "kept (--force replaces it)")
    assert env_file.read_text() == "POSTGRES_PORT=1\n"
    assert by_what(scaffold.init(tmp_path, force=True))["envs/test.env"].verb == "overwrote"
    assert "POSTGRES_PORT=5434" in env_file.read_text()


def test_an_existing_manifest_is_never_changed_even_with_force(tmp_path: Path) -> None:
    text = '[tool.realstack]\nstate_dir = "x"\n'
    (tmp_path / "pyproject.toml").write_text(text)
    scaffold.init(tmp_path, force=True)
    assert (tmp_path / "pyproject.toml").read_text() == text


def test_a_noxfile_of_the_projects_own_is_never_touched_the_sessions_go_beside_it(
    tmp_path: Path,
) -> None:
    own = "import nox\n\n@nox.session\ndef lint(session): ...\n"
    (tmp_path / "noxfile.py").write_text(own)
    lines = by_what(scaffold.init(tmp_path, force=True))
    assert (tmp_path / "noxfile.py").read_text() == own
    assert lines["noxfile.realstack.py"].verb == "wrote"
    assert "copy the sessions into noxfile.py" in (tmp_path / "noxfile.realstack.py").read_text()


@pytest.mark.parametrize(
    "pyproject",
    ["[project\nname = 1\n", "tool = { black = { line-length = 99 } }\n"],
    ids=["no TOML", "an inline tool table"],
)
def test_a_pyproject_init_cannot_extend_is_a_config_error_and_nothing_is_written(
    tmp_path: Path, pyproject: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    with pytest.raises(ConfigError) as info:
        scaffold.init(tmp_path)
    assert info.value.path == str(tmp_path / "pyproject.toml")
    assert files(tmp_path) == {"pyproject.toml": pyproject.encode()}


# --------------------------------------------------------------------------- what it says


def test_the_report_lists_what_it_wrote_and_the_next_two_commands(tmp_path: Path) -> None:
    """One line per file, no credential from the env files, then what to run."""
    said: list[str] = []
    scaffold.report(tmp_path, scaffold.init(tmp_path), said.append)
    written = {line.split()[1] for line in said if line.split()[:1] == ["wrote"]}
    assert written == {
        "pyproject.toml",
        "envs/test.env",
        "envs/dev.env",
        "tasks.py",
        "noxfile.py",
        "tests/e2e/test_stack.py",
        ".realstack/.gitignore",
    }
    assert said[-3:] == ["next:", "  invoke services.start --wait", "  pytest tests/e2e"]
    assert not any("test_pass" in line for line in said)

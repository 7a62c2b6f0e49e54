"""The invoke tasks' error handling, called in-process: every exception is one message and an
exit code (2 for configuration, 1 otherwise), unexpected tracebacks go to a file, and nothing
printed shows a secret. Nothing is started: the orchestrator and status are replaced."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from realstack import cli, cli_support, orchestrator, tasks
from realstack.cli_support import ProgressLines
from realstack.errors import RealstackError
from realstack.model import Stack
from realstack.results import Action, Event, Report, ServiceResult
from realstack.state import InstancePaths
from realstack.status import ServiceStatus

PASSWORD = "pw-s3cret-value"
TOKEN = "tok-0123456789"
MANIFEST = textwrap.dedent(
    f"""\
    [tool.realstack]
    default_env = "test"

    [tool.realstack.services.db]
    kind = "postgres"
    port = 15999
    user = "u"
    password = "{PASSWORD}"
    database = "d"

    [tool.realstack.services.api]
    kind = "process"
    port = 18999
    command = ["{{python}}", "-m", "api"]
    env = {{ API_TOKEN = "${{API_TOKEN}}" }}
    """
)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project (db with a password, api with a token) as the cwd; no REALSTACK_* leaks in."""
    (tmp_path / "pyproject.toml").write_text(MANIFEST)
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "test.env").write_text(f"API_TOKEN={TOKEN}\n")
    for name in ("REALSTACK_ENV", "REALSTACK_STATE_DIR", "REALSTACK_INSTANCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("REALSTACK_PROFILES", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def exit_of(task: object, *args: object, **kwargs: object) -> Exit:
    with pytest.raises(Exit) as info:
        task(Context(), *args, **kwargs)  # type: ignore[operator]
    return info.value


def status_raising(exc: BaseException) -> object:
    def inspect(stack: Stack) -> list[ServiceStatus]:
        raise exc

    return inspect


# --------------------------------------------------------------------------- unexpected exceptions


def test_an_unexpected_exception_is_one_line_and_exit_1_with_its_traceback_in_the_log(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug under a task: exit 1, one line naming the log, the traceback only in the log."""
    monkeypatch.setattr(tasks, "inspect_status", status_raising(ValueError("bad\nthing")))
    done = exit_of(tasks.status)
    log = root / ".realstack" / "test" / "logs" / "realstack.log"
    assert done.code == 1
    assert done.message == f"realstack: unexpected ValueError: bad thing (traceback in {log})"
    assert "Traceback" in log.read_text()
    assert "Traceback" not in capsys.readouterr().err


def test_an_unexpected_exception_before_the_stack_is_known_goes_to_stderr(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a state directory the traceback goes to stderr, the message says so."""

    def broken(env: str | None = None) -> Stack:
        raise KeyError("surprise")

    monkeypatch.setattr(cli_support, "load_stack", broken)
    done = exit_of(tasks.stop)
    assert done.code == 1
    assert str(done.message).startswith("realstack: unexpected KeyError: 'surprise'")
    assert "traceback above" in str(done.message)
    assert "KeyError: 'surprise'" in capsys.readouterr().err


def test_an_unexpected_exception_whose_log_cannot_be_written_goes_to_stderr(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """logs/ a file: the traceback is not lost, it goes to stderr."""
    paths = InstancePaths(root / ".realstack" / "test")
    monkeypatch.setattr(tasks, "inspect_status", status_raising(ValueError("boom")))
    monkeypatch.setattr(InstancePaths, "check", lambda *a, **k: None)
    paths.root.mkdir(parents=True)
    paths.logs.write_text("x")
    done = exit_of(tasks.status)
    assert done.code == 1
    assert "ValueError: boom" in capsys.readouterr().err


def test_a_secret_in_an_unexpected_exception_is_masked_in_message_and_log(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exception text and its traceback pass through mask."""
    monkeypatch.setattr(tasks, "inspect_status", status_raising(ValueError(f"pw={PASSWORD}")))
    done = exit_of(tasks.status)
    log = root / ".realstack" / "test" / "logs" / "realstack.log"
    assert PASSWORD not in str(done.message)
    assert "pw=***" in str(done.message)
    assert PASSWORD not in log.read_text()


def test_ctrl_c_stays_exit_130(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """KeyboardInterrupt is not turned into "unexpected"."""
    monkeypatch.setattr(tasks, "inspect_status", status_raising(KeyboardInterrupt()))
    assert exit_of(tasks.status).code == 130


def test_a_reader_that_goes_away_ends_the_command_quietly_as_sigpipe_would(
    root: Path, tmp_path: Path
) -> None:
    """`invoke services.list | head -1`: a traceback ("unexpected BrokenPipeError") was
    printed once head had its line. Now: exit 141 (128 + SIGPIPE), nothing on stderr."""
    (root / "tasks.py").write_text("from realstack.tasks import namespace as ns\n")
    reader, writer = os.pipe()
    os.close(reader)  # gone before the first line: every write fails with EPIPE
    env = {**os.environ, "REALSTACK_HOME": str(tmp_path / "home")}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "invoke", "services.status"],
            cwd=root,
            env=env,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (141, "")


# --------------------------------------------------------------------------- realstack errors


def test_a_config_error_is_exit_2_with_its_field_path(root: Path) -> None:
    """A bad manifest: exit 2 and the path in the message."""
    (root / "pyproject.toml").write_text(MANIFEST.replace("port = 15999", "port = 0"))
    done = exit_of(tasks.status)
    assert done.code == 2
    assert str(done.message).startswith("realstack: tool.realstack.services.db.port: ")


def test_a_realstack_error_message_is_masked(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A RealstackError carrying a secret prints *** instead."""
    error = RealstackError(f"db: login failed for {PASSWORD} and {TOKEN}")
    monkeypatch.setattr(tasks, "inspect_status", status_raising(error))
    done = exit_of(tasks.status)
    assert done.code == 1
    assert done.message == "realstack: db: login failed for *** and ***"


def test_a_failure_list_is_masked(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ✗ lines of a failed start go through mask."""
    error = RealstackError(f"db: refused {PASSWORD}")
    report = Report((ServiceResult("db", Action.FAILED, error=error),), 0.1)
    monkeypatch.setattr(orchestrator, "start", lambda *a, **k: report)
    done = exit_of(tasks.start)
    err = capsys.readouterr().err
    assert done.code == 1
    assert "✗ db: refused ***" in err
    assert PASSWORD not in err


def test_progress_lines_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    """A progress detail carrying a secret prints *** instead."""
    ProgressLines([PASSWORD])("db", Event.NOTE, f"dsn has {PASSWORD}")
    out = capsys.readouterr().out
    assert "dsn has ***" in out
    assert PASSWORD not in out


def test_status_rows_are_masked(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Health text (an error from a probe) never shows a secret, in the table or JSON."""
    row = ServiceStatus("db", "postgres", "native", 15999, health=f"auth failed: {PASSWORD}")
    monkeypatch.setattr(tasks, "inspect_status", lambda stack: [row])
    tasks.status(Context())
    tasks.status(Context(), json_=True)
    out = capsys.readouterr().out
    assert PASSWORD not in out
    assert out.count("auth failed: ***") == 2


# --------------------------------------------------------------------------- arguments and state


@pytest.mark.parametrize("timeout", ["abc", "-1", "nan", "inf", "0"])
def test_a_timeout_that_is_no_number_of_seconds_is_exit_2(root: Path, timeout: str) -> None:
    """``--timeout abc`` is a usage error naming ``timeout``, before anything starts."""
    done = exit_of(tasks.start, timeout=timeout)
    assert done.code == 2
    assert str(done.message).startswith("realstack: timeout: ")


def test_logs_with_no_lines_is_exit_2(root: Path) -> None:
    """``--lines 0`` is a usage error naming ``lines``."""
    done = exit_of(tasks.logs, "db", lines="0")
    assert done.code == 2
    assert str(done.message).startswith("realstack: lines: ")


@pytest.mark.parametrize("lines", ["abc", "-3", "2.5", "²"])
def test_logs_with_lines_that_are_no_count_is_exit_2_from_the_command_line(
    root: Path, lines: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the command's own parser (``realstack services.logs db --lines abc``): it was
    invoke's ``ValueError: invalid literal for int()`` traceback, exit 1."""
    with pytest.raises(SystemExit) as done:
        cli.run(["realstack", "services.logs", "db", "--lines", lines])

    assert done.value.code == 2
    err = capsys.readouterr().err
    assert f"realstack: lines: expected a number of lines (1 or more), got '{lines}'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("task", ["start", "stop", "status", "restart", "logs"])
def test_each_task_checks_the_state_dir_before_it_does_anything(
    root: Path, monkeypatch: pytest.MonkeyPatch, task: str
) -> None:
    """``services`` a file: exit 1 naming it, and the orchestrator is never asked."""
    services = root / ".realstack" / "test" / "services"
    services.parent.mkdir(parents=True)
    services.write_text("notes")

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("reached the orchestrator")

    for name in ("start", "stop", "restart"):
        monkeypatch.setattr(orchestrator, name, never)
    monkeypatch.setattr(tasks, "inspect_status", never)
    args = ("db",) if task in ("restart", "logs") else ()
    done = exit_of(getattr(tasks, task), *args)
    assert done.code == 1
    assert str(services) in str(done.message)
    assert "move it aside" in str(done.message)
    assert services.read_text() == "notes"


def test_a_state_dir_config_error_from_the_environment_is_exit_2(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REALSTACK_STATE_DIR=/ names REALSTACK_STATE_DIR, exit 2."""
    monkeypatch.setenv("REALSTACK_STATE_DIR", "/")
    done = exit_of(tasks.status)
    assert done.code == 2
    assert str(done.message).startswith("realstack: REALSTACK_STATE_DIR: ")


def test_a_profile_no_service_has_is_exit_2_naming_the_manifests(root: Path) -> None:
    """``--profile analytcs``: a typo would start nothing more, and say nothing (before)."""
    (root / "pyproject.toml").write_text(
        MANIFEST + '[tool.realstack.services.ch]\nkind = "process"\nport = 18998\n'
        'command = ["{python}"]\nprofiles = ["analytics"]\n'
    )
    done = exit_of(tasks.start, profile="analytcs")
    assert done.code == 2
    assert str(done.message) == (
        "realstack: profile: unknown profile 'analytcs'; the manifest's: analytics"
    )


# --------------------------------------------------------------------------- a broken stack's note


@pytest.mark.parametrize(("only", "kept"), [(None, False), ("api", True)])
def test_stopping_the_stack_drops_the_note_of_an_outage_that_did_not_end(
    root: Path, monkeypatch: pytest.MonkeyPatch, only: str | None, kept: bool
) -> None:
    """After ``services.stop`` what is down is down on purpose: the next run's preflight must
    not blame the test whose outage broke the stack before (it did, until a strict test ran
    after a start). Stopping one service leaves the rest as broken as it was."""
    note = InstancePaths(root / ".realstack" / "test").tests_broken
    note.parent.mkdir(parents=True)
    note.write_text('{"test": "t.py::t", "services": ["db"], "why": "exited"}\n')
    report = Report((ServiceResult("db", Action.STOPPED),), 0.1)
    monkeypatch.setattr(orchestrator, "stop", lambda *a, **k: report)

    tasks.stop(Context(), only=only)

    assert note.exists() is kept


@pytest.mark.parametrize("name", sorted(tasks.namespace.task_names))
def test_each_task_says_what_it_does_in_one_whole_line(name: str) -> None:
    """`invoke -l` and `realstack --help` show a task's first docstring line: one that goes
    on in the next line was cut mid-sentence there ("…until it is healthy; tests running")."""
    first = (tasks.namespace[name].__doc__ or "").strip().splitlines()[0]
    assert first.endswith((".", ")")), first


def test_logs_of_a_service_whose_profile_is_off_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not "(nothing logged yet: docker logs of …)", as if it had been started."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.realstack.services.cache]\nkind = "redis"\nport = 6399\nprofiles = ["extra"]\n'
    )
    monkeypatch.delenv("REALSTACK_PROFILES", raising=False)
    monkeypatch.chdir(tmp_path)

    tasks.logs(Context(), "cache")

    assert capsys.readouterr().out == (
        "(nothing logged: cache is in profile extra, which is not enabled)\n"
    )


def test_ctrl_c_while_the_command_loads_is_exit_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C in the first ~0.1 s of `realstack services.start` landed in an import of the
    tasks: a traceback through realstack's modules, exit 130 only by Python's default."""

    def interrupted_import() -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_program", interrupted_import)
    with pytest.raises(SystemExit) as done:
        cli.run(["realstack", "services.start", "--wait"])

    assert done.value.code == 130
    assert capsys.readouterr().err == "realstack: interrupted\n"

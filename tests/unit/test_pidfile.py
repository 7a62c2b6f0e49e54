"""Ownership records: atomic JSON pidfiles, and 'ours' only for a live pid with its create_time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from realstack.pidfile import Record, process_of, read, write, write_atomic


def record(**fields: Any) -> Record:
    me = psutil.Process()
    base: dict[str, Any] = {
        "service": "redis",
        "pid": me.pid,
        "create_time": me.create_time(),
        "argv": ("valkey-server", "--port", "6381"),
        "port": 6381,
        "provider": "native",
        "marker": "/tmp/project:test",
        "started_at": 1_700_000_000.5,
        "user": None,
    }
    return Record(**{**base, **fields})


# --------------------------------------------------------------------------- files


def test_write_then_read_gives_the_same_record(tmp_path: Path) -> None:
    """Every field survives the JSON round trip, argv as a tuple again."""
    path = tmp_path / "redis.json"
    rec = record(user="postgres")
    write(path, rec)
    assert read(path) == rec
    assert json.loads(path.read_text())["argv"] == ["valkey-server", "--port", "6381"]


def test_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    """The temp file is renamed over the record; only the record remains, even on rewrite."""
    path = tmp_path / "redis.json"
    write(path, record())
    write(path, record(port=6390))
    assert [p.name for p in tmp_path.iterdir()] == ["redis.json"]
    found = read(path)
    assert found is not None
    assert found.port == 6390


def test_a_failed_write_keeps_the_old_record_and_no_temp_file(tmp_path: Path) -> None:
    """If writing fails half way, readers still see the previous complete record."""
    path = tmp_path / "redis.json"
    write(path, record())
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "{\ud800")  # a lone surrogate cannot be encoded
    assert read(path) == record()
    assert [p.name for p in tmp_path.iterdir()] == ["redis.json"]


def test_a_missing_record_reads_as_none(tmp_path: Path) -> None:
    """No file, no record."""
    assert read(tmp_path / "absent.json") is None


GOOD = record().to_json()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{not json", id="not-json"),
        pytest.param(json.dumps(GOOD).encode()[:-5], id="truncated"),
        pytest.param(b"\xff\xfe\x00", id="not-utf8"),
        pytest.param(b"[1, 2]", id="a-list"),
        pytest.param(b"null", id="null"),
        pytest.param(
            json.dumps({k: v for k, v in GOOD.items() if k != "pid"}).encode(), id="no-pid"
        ),
        pytest.param(json.dumps({**GOOD, "argv": 5}).encode(), id="argv-not-a-list"),
    ],
)
def test_a_corrupt_record_reads_as_none(tmp_path: Path, content: bytes) -> None:
    """Half-written, foreign or mangled files are stale, never an exception."""
    path = tmp_path / "svc.json"
    path.write_bytes(content)
    assert read(path) is None


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"pid": str(os.getpid())}, id="pid-as-string"),
        pytest.param({"pid": -5}, id="negative-pid"),
        pytest.param({"create_time": "yesterday"}, id="create-time-as-string"),
        pytest.param({"argv": "valkey-server"}, id="argv-as-string"),
    ],
)
def test_a_record_with_mistyped_fields_reads_as_none(
    tmp_path: Path, fields: dict[str, Any]
) -> None:
    """Valid JSON with the wrong types is corrupt too: it must not reach psutil or os.kill."""
    path = tmp_path / "svc.json"
    path.write_text(json.dumps({**GOOD, **fields}))
    assert read(path) is None


def test_an_unreadable_record_reads_as_none(tmp_path: Path) -> None:
    """Something that cannot be read as a file (here a directory) is stale, not a crash."""
    path = tmp_path / "svc.json"
    path.mkdir()
    assert read(path) is None


# --------------------------------------------------------------------------- identity


def test_the_current_process_is_ours_by_pid_and_create_time() -> None:
    """A live process with the recorded pid AND create_time is the one we started."""
    proc = process_of(record())
    assert proc is not None
    assert proc.pid == os.getpid()


def test_a_reused_pid_is_not_ours() -> None:
    """Same pid, different create_time: another process got the pid; never touch it."""
    assert process_of(record(create_time=psutil.Process().create_time() - 60)) is None


def test_a_create_time_off_by_a_second_is_not_ours() -> None:
    """The tolerance only absorbs clock-tick rounding, not a different process."""
    assert process_of(record(create_time=psutil.Process().create_time() + 1)) is None


def test_a_pid_that_does_not_exist_is_not_ours() -> None:
    """A pid above the kernel's pid_max cannot belong to any process."""
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    assert process_of(record(pid=pid_max + 1)) is None


def test_a_pid_that_has_exited_is_not_ours() -> None:
    """A reaped child's pid is free: the record is stale."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    created = psutil.Process(child.pid).create_time()
    child.wait()
    assert process_of(record(pid=child.pid, create_time=created)) is None


def test_a_zombie_is_not_ours() -> None:
    """An exited but unreaped child is not a running service."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        created = psutil.Process(child.pid).create_time()
        # Wait for the exit but leave the child unreaped (a zombie).
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        assert psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE
        assert process_of(record(pid=child.pid, create_time=created)) is None
    finally:
        child.wait()

"""Ownership records: atomic JSON files of one instance, and a process is 'ours' only for a
live pid with its create_time."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from realstack.records import FOREIGN_RECORD, ContainerRecord, ProcessRecord, Records
from realstack.state import InstancePaths, write_atomic
from realstack.supervisor import process_of

INSTANCE = "0123456789abcdef"


def record(**fields: Any) -> ProcessRecord:
    me = psutil.Process()
    base: dict[str, Any] = {
        "service": "redis",
        "instance": INSTANCE,
        "provider": "native",
        "pid": me.pid,
        "create_time": me.create_time(),
        "argv": ("valkey-server", "--port", "6381"),
        "port": 6381,
        "started_at": 1_700_000_000.5,
        "user": None,
        "settings": {"port": "6381"},
    }
    return ProcessRecord(**{**base, **fields})


def records(tmp_path: Path, instance: str = INSTANCE) -> Records:
    return Records(InstancePaths(tmp_path), instance)


def write(path: Path, rec: ProcessRecord) -> None:
    records(path.parent.parent).write(rec)


def read(path: Path) -> object:
    return records(path.parent.parent).read(path.stem)


# --------------------------------------------------------------------------- files


def test_write_then_read_gives_the_same_record(tmp_path: Path) -> None:
    """Every field survives the JSON round trip, argv as a tuple again."""
    path = tmp_path / "services" / "redis.json"
    rec = record(user="postgres")
    write(path, rec)
    assert read(path) == rec
    assert json.loads(path.read_text())["argv"] == ["valkey-server", "--port", "6381"]


def test_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    """The temp file is renamed over the record; only the record remains, even on rewrite."""
    path = tmp_path / "services" / "redis.json"
    write(path, record())
    write(path, record(port=6390))
    assert [p.name for p in path.parent.iterdir()] == ["redis.json"]
    found = read(path)
    assert isinstance(found, ProcessRecord)
    assert found.port == 6390


def test_a_failed_write_keeps_the_old_record_and_no_temp_file(tmp_path: Path) -> None:
    """If writing fails half way, readers still see the previous complete record."""
    path = tmp_path / "services" / "redis.json"
    write(path, record())
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "{\ud800")  # a lone surrogate cannot be encoded
    assert read(path) == record()
    assert [p.name for p in path.parent.iterdir()] == ["redis.json"]


def test_a_missing_record_reads_as_none(tmp_path: Path) -> None:
    """No file, no record."""
    assert read(tmp_path / "services" / "absent.json") is None


GOOD = {**dataclasses.asdict(record()), "argv": list(record().argv)}


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
        pytest.param(json.dumps({**GOOD, "service": "postgres"}).encode(), id="other-service"),
        pytest.param(
            json.dumps({k: v for k, v in GOOD.items() if k != "instance"}).encode(),
            id="no-instance",
        ),
    ],
)
def test_a_corrupt_record_reads_as_none(tmp_path: Path, content: bytes) -> None:
    """Half-written, foreign or mangled files are stale, never an exception."""
    path = tmp_path / "services" / "redis.json"
    path.parent.mkdir()
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
    path = tmp_path / "services" / "redis.json"
    path.parent.mkdir()
    path.write_text(json.dumps({**GOOD, **fields}))
    assert read(path) is None


def test_an_unreadable_record_reads_as_none(tmp_path: Path) -> None:
    """Something that cannot be read as a file (here a directory) is stale, not a crash."""
    path = tmp_path / "services" / "redis.json"
    path.mkdir(parents=True)
    assert read(path) is None


def test_a_record_of_another_instance_is_foreign_whatever_it_says(tmp_path: Path) -> None:
    """A copied checkout's or a forged record names another instance: never this one's."""
    write(tmp_path / "services" / "redis.json", record(instance="fedcba9876543210"))
    assert records(tmp_path).read("redis") is FOREIGN_RECORD


def test_a_container_record_round_trips_without_any_pid(tmp_path: Path) -> None:
    """Containers are identified by id, project and compose service, never a host pid."""
    rec = ContainerRecord(
        service="redis",
        instance=INSTANCE,
        provider="docker",
        container_id="c0ffee",
        project="realstack-test-0123456789",
        compose_service="redis",
        port=6381,
    )
    records(tmp_path).write(rec)
    assert records(tmp_path).read("redis") == rec
    assert "pid" not in json.loads((tmp_path / "services" / "redis.json").read_text())


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

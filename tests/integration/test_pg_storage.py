"""Where a native cluster lives: a non-durable one in memory (tmpfs), per instance, so a copied
checkout never shares it; every cluster a copy of one cached initdb."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psycopg
import pytest

from conftest import Project, throwaway_project
from integration._support import NATIVE_MANIFEST, write_manifest
from realstack import pgstorage
from realstack.envfile import contract

pytestmark = pytest.mark.integration


def _query(project: Project, sql: str) -> object:
    """The first value of ``sql``'s last statement (None: it returns no rows)."""
    with psycopg.connect(contract(project.stack())["DATABASE_URL"], autocommit=True) as conn:
        cursor = conn.execute(sql)
        row = cursor.fetchone() if cursor.description else None
    return None if row is None else row[0]


def _memory(project: Project) -> Path:
    return pgstorage.memory_cluster(project.stack().instance_id, "postgres")


@pytest.fixture
def native(project: Project) -> Project:
    return write_manifest(project, NATIVE_MANIFEST)


def test_a_non_durable_cluster_lives_in_memory_until_purged(native: Project) -> None:
    assert native.start().ok
    memory = _memory(native)

    assert _query(native, "SHOW data_directory") == str(memory)
    assert memory.parent.parent == Path("/dev/shm") / f"realstack-{os.geteuid()}"
    assert (native.state / "data" / "postgres" / pgstorage.MEMORY_MARK).is_file()
    report = native.stop(purge=True)
    assert report.ok, report.errors
    assert not memory.exists()
    assert not memory.parent.exists()  # the instance's tmpfs dir goes with its last cluster
    assert not (native.state / "data" / "postgres").exists()


def test_a_copied_checkout_gets_a_cluster_of_its_own(native: Project) -> None:
    assert native.start().ok
    _query(native, "CREATE TABLE kept (body text); INSERT INTO kept VALUES ('original')")
    assert native.stop().ok
    with throwaway_project("realstack-copy-") as copy:
        shutil.copytree(native.root, copy.root, symlinks=True, dirs_exist_ok=True)  # cp -a

        report = copy.start()
        assert report.ok, report.errors

        assert _query(copy, "SHOW data_directory") == str(_memory(copy))
        assert _memory(copy) != _memory(native)
        assert _query(copy, "SELECT to_regclass('kept') IS NULL") is True
        assert copy.stop(purge=True).ok
    assert native.start().ok
    assert _query(native, "SELECT body FROM kept") == "original"


def test_turning_durable_with_data_in_memory_is_refused_with_the_fix(native: Project) -> None:
    assert native.start().ok
    assert native.stop().ok
    env_file = native.root / "envs" / "test.env"
    env_file.write_text(env_file.read_text() + "DURABLE=true\n")

    report = native.start()

    assert not report.ok
    message = "\n".join(str(e) for e in report.errors)
    assert "postgres is durable now, but its data was made in memory" in message
    assert "services.stop --purge" in message
    assert (_memory(native) / "PG_VERSION").is_file()  # nothing deleted


def test_clusters_are_copies_of_one_cached_initdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REALSTACK_CACHE_DIR", str(tmp_path / "cache"))
    identifiers = []
    for _ in range(2):
        with throwaway_project("realstack-cached-") as proj:
            write_manifest(proj, NATIVE_MANIFEST)
            report = proj.start()
            assert report.ok, report.errors
            identifiers.append(_query(proj, "SELECT system_identifier FROM pg_control_system()"))

    # initdb gives each cluster a new identifier: equal ones were copied from one initdb
    assert identifiers[0] == identifiers[1]
    cache = tmp_path / "cache" / "postgres"
    entries = [e for e in cache.iterdir() if e.is_dir() and not e.name.startswith(".")]
    assert [(e / "PG_VERSION").is_file() for e in entries] == [True]


def test_a_cache_that_cannot_be_made_does_not_fail_the_start(
    native: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("REALSTACK_CACHE_DIR", str(blocker))  # <file>/postgres: no mkdir there

    report = native.start()

    assert report.ok, report.errors
    assert _query(native, "SELECT current_user") == "app_user"


def test_a_deleted_checkouts_cluster_goes_when_the_next_one_is_made(native: Project) -> None:
    with throwaway_project("realstack-deleted-") as gone:
        write_manifest(gone, NATIVE_MANIFEST)
        assert gone.start().ok
        assert gone.stop().ok  # data kept, as after any stop
        left = _memory(gone)
        assert (left / "PG_VERSION").is_file()
        shutil.rmtree(gone.root / ".realstack")  # the checkout deleted (its state with it)

        report = native.start()

        assert report.ok, report.errors
        assert not left.parent.exists()
        assert (_memory(native) / "PG_VERSION").is_file()  # its own, made meanwhile

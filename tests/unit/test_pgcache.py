"""The per-user initdb cache keeps the most recently used entries, and never one in use."""

from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock

from realstack import pgcache


def _entry(cache: Path, name: str, used: float) -> Path:
    entry = cache / f"pg-{name}"
    entry.mkdir(parents=True)
    (entry / "PG_VERSION").write_text("15\n")
    lock = cache / f"{entry.name}.lock"
    lock.touch()
    os.utime(lock, (used, used))
    return entry


def test_the_least_recently_used_entries_beyond_the_limit_go(tmp_path: Path) -> None:
    entries = [_entry(tmp_path, f"{n:02d}", used=1000.0 + n) for n in range(7)]
    keep = entries[0]  # the oldest, but the one this start just made

    gone = pgcache.evict(tmp_path, keep=keep)

    left = sorted(e.name for e in tmp_path.glob("pg-*") if e.is_dir())
    assert left == ["pg-00", "pg-04", "pg-05", "pg-06"]
    assert sorted(gone) == entries[1:4]
    assert len(left) == pgcache.MAX_ENTRIES


def test_an_entry_another_start_holds_is_kept(tmp_path: Path) -> None:
    entries = [_entry(tmp_path, f"{n:02d}", used=1000.0 + n) for n in range(6)]
    held = FileLock(tmp_path / f"{entries[1].name}.lock")

    with held:
        gone = pgcache.evict(tmp_path, keep=entries[5])

    assert entries[1].is_dir()
    assert gone == [entries[0]]  # one over the limit for now, rather than one in use gone

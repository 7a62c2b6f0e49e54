"""The per-user cache of initdb'd clusters: initdb costs ~1 s, a copy of its result ~0.1 s.

An entry per PostgreSQL build (size and mtime of its ``postgres``) and initdb input (role,
password, database): built once, under a lock, by the first start that needs it, then copied
by every later one (under the same lock, so an entry is never removed mid-copy). The least
recently used beyond :data:`MAX_ENTRIES` go (~45 MB each). ``$REALSTACK_CACHE_DIR``, default
``$XDG_CACHE_HOME/realstack`` or ``~/.cache/realstack``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from filelock import FileLock, Timeout

from realstack import pgcluster
from realstack.model import Service

_TEMPLATE_FORMAT = "2"  # bump when initdb options change (2: trust without a password)
MAX_ENTRIES = 4
LOCK_WAIT = 300.0  # a build takes ~1 s; a holder that dies frees the lock


def cache_dir() -> Path:
    """The per-user cache of initdb'd clusters (keyed by PostgreSQL build + settings)."""
    if os.environ.get("REALSTACK_CACHE_DIR"):
        return Path(os.environ["REALSTACK_CACHE_DIR"]) / "postgres"
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "realstack" / "postgres"
    try:
        return Path.home() / ".cache" / "realstack" / "postgres"
    except RuntimeError:  # no HOME and no passwd entry
        return Path(tempfile.gettempdir()) / f"realstack-cache-{os.getuid()}" / "postgres"


def _template_key(bin_dir: Path, service: Service) -> str:
    """The cache entry's key: the build (a new package is a new size or mtime: no
    ``postgres --version`` run on every start) and what initdb was given."""
    build = (bin_dir / "postgres").stat()
    material = "\0".join(
        [
            _TEMPLATE_FORMAT,
            str(bin_dir),
            f"{build.st_size}:{build.st_mtime_ns}",
            service.user,
            service.password,
            service.database,
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def copy_cached(bin_dir: Path, service: Service, target: Path, user: str | None) -> None:
    """Make ``target`` a copy of the cached initdb (built and cached first on a miss; built
    only, when the cache cannot be used: a cache is never why a start fails).

    Copied beside the target and renamed: an interrupted copy never looks like a cluster.
    """
    scratch = target.with_name(f".{target.name}.copy-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    cache = cache_dir()
    entry = cache / f"pg-{_template_key(bin_dir, service)}"
    try:
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = FileLock(cache / f"{entry.name}.lock", timeout=LOCK_WAIT)
        lock.acquire()
        os.utime(lock.lock_file)  # last used: what eviction goes by
    except OSError:  # unwritable, or held for 5 minutes (filelock's Timeout is an OSError)
        pgcluster.build_initdb(bin_dir, service, scratch, user)
    else:
        try:
            if (entry / "PG_VERSION").is_file():
                shutil.copytree(entry, scratch, symlinks=True, copy_function=shutil.copy)
                pgcluster.chown_tree(scratch, user)
            else:
                # built where the server's user can reach it (the cache is ours alone),
                # kept as the target, and copied into the cache
                pgcluster.build_initdb(bin_dir, service, scratch, user)
                _store(scratch, entry)
                evict(cache, keep=entry)
        finally:
            lock.release()
    scratch.chmod(0o700)
    scratch.rename(target)


def _store(cluster: Path, entry: Path) -> None:
    """Copy a fresh initdb into the cache (staged, then renamed: never half an entry)."""
    with contextlib.suppress(OSError):  # a full or read-only cache: the next start builds again
        staged = Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".{entry.name}."))
        try:
            shutil.copytree(cluster, staged / "cluster", symlinks=True)
            (staged / "cluster").rename(entry)
        finally:
            shutil.rmtree(staged, ignore_errors=True)


def evict(cache: Path, keep: Path) -> list[Path]:
    """Remove the least recently used entries beyond :data:`MAX_ENTRIES` (never ``keep``,
    never one another start holds); the entries removed."""
    entries = [e for e in cache.glob("pg-*") if e.is_dir() and e != keep]
    entries.sort(key=lambda e: _last_used(cache, e), reverse=True)
    gone = []
    for entry in entries[MAX_ENTRIES - 1 :]:
        lock = FileLock(cache / f"{entry.name}.lock", timeout=0)
        try:
            lock.acquire()
        except Timeout:
            continue  # in use right now: not the least recently used after all
        try:
            shutil.rmtree(entry, ignore_errors=True)
            gone.append(entry)
        finally:
            lock.release()
    return gone


def _last_used(cache: Path, entry: Path) -> float:
    try:
        return (cache / f"{entry.name}.lock").stat().st_mtime
    except OSError:
        return 0.0

"""Where a PostgreSQL cluster's files live: in memory (tmpfs) for a non-durable service.

A non-durable cluster (``durable = false``) promises nothing across a crash, so it lives in
``/dev/shm/realstack-<uid>/<instance id>/<service>`` where that is a tmpfs with room: on disk,
``CREATE DATABASE`` (a per-test database) waits on the file system's journal (~170 ms here
against ~12 ms in memory). The path derives from the instance id alone, never from a file a
copy of the checkout could carry: a ``cp -a`` of the checkout is another instance with a
cluster of its own. The instance's data dir holds a mark saying the cluster is in memory (and
where), so ``purge`` and a later start know; a cleared tmpfs (a reboot) means a new cluster.
A deleted checkout's cluster would outlive it in memory: the next new one removes it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from realstack import pgcluster
from realstack.errors import ProviderError
from realstack.model import Service

TMPFS = Path("/dev/shm")
TMPFS_MIN_FREE = 1 << 30  # bytes left for the test databases the clusters will hold
MEMORY_MARK = "realstack-in-memory"  # in data/<service>/: the cluster lives in tmpfs
OWNER_FILE = "owner"  # in the instance's tmpfs dir: whose it is, for a human looking


def _mounted_tmpfs(path: Path) -> bool:
    try:
        mounts = Path("/proc/self/mounts").read_text()
    except OSError:  # not Linux: no tmpfs we know of
        return False
    return any(
        fields[1] == str(path) and fields[2] == "tmpfs"
        for fields in (line.split() for line in mounts.splitlines())
        if len(fields) >= 3
    )


def memory_home() -> Path:
    """This user's directory on the tmpfs (not created here)."""
    return TMPFS / f"realstack-{os.geteuid()}"


def memory_cluster(instance_id: str, service: str) -> Path:
    """Where ``service`` of this instance keeps its cluster when it is in memory."""
    return memory_home() / instance_id / service


def memory_usable() -> bool:
    """A new non-durable cluster goes to memory: a tmpfs with room, and our own directory
    there (``/dev/shm`` is world-writable: a directory another user made is not ours to use).
    ``REALSTACK_PG_IN_MEMORY=0`` keeps it on disk."""
    if os.environ.get("REALSTACK_PG_IN_MEMORY", "1") == "0" or not _mounted_tmpfs(TMPFS):
        return False
    try:
        found = os.statvfs(TMPFS)
        if found.f_bavail * found.f_frsize < TMPFS_MIN_FREE:
            return False
        home = memory_home()
        with contextlib.suppress(FileExistsError):
            home.mkdir(mode=0o700)
        mode = os.lstat(home)
    except OSError:
        return False
    return stat.S_ISDIR(mode.st_mode) and mode.st_uid == os.geteuid()


def claim_memory_dir(instance_id: str, state_root: Path) -> Path:
    """The instance's directory on the tmpfs, made private (0700) and marked with its owner."""
    directory = memory_home() / instance_id
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    (directory / OWNER_FILE).write_text(f"{instance_id}\n{state_root}\n")
    return directory


def _running(cluster: Path) -> bool:
    """Whether a postmaster (any user's) has the cluster's pid file and is alive."""
    try:
        pid = int((cluster / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's (the server's user, when we are root)
    return True


def sweep_orphans() -> list[Path]:
    """Remove the in-memory clusters of instances whose state dir is gone (their checkout
    was deleted: on disk their data would have gone with it) and that no server runs on.
    Only this user's directory is looked at; an owner file that cannot be read keeps it."""
    gone = []
    with contextlib.suppress(OSError):
        for directory in memory_home().iterdir():
            try:
                state_root = Path((directory / OWNER_FILE).read_text().split("\n")[1])
            except (OSError, IndexError):
                continue
            if not state_root.is_absolute() or state_root.exists():
                continue
            clusters = [c for c in directory.iterdir() if c.name != OWNER_FILE]
            if any(_running(c) for c in clusters):
                continue
            for cluster in clusters:
                shutil.rmtree(cluster, ignore_errors=True)
            release_memory_dir(directory.name)
            gone.append(directory)
    return gone


def release_memory_dir(instance_id: str) -> None:
    """Remove the instance's tmpfs directory once it holds no cluster (only its owner file)."""
    directory = memory_home() / instance_id
    with contextlib.suppress(OSError):
        if {p.name for p in directory.iterdir()} <= {OWNER_FILE}:
            (directory / OWNER_FILE).unlink(missing_ok=True)
            directory.rmdir()


@dataclass(frozen=True)
class Cluster:
    """A ready cluster: where it is, and whether this start made it (then nothing that ran
    against the service before, migrations included, is in it)."""

    path: Path
    created: bool


def _place(service: Service, data_dir: Path, instance_id: str) -> Path | None:
    """Where the cluster is, or goes (None: nowhere yet, and not into memory)."""
    if (data_dir / "PG_VERSION").is_file():
        return data_dir  # on disk, kept: data survives stop, and is never moved
    if (data_dir / MEMORY_MARK).is_file():
        if service.durable:
            raise ProviderError(
                f"{service.name} is durable now, but its data was made in memory when it was "
                f"not ({memory_cluster(instance_id, service.name)}, gone on reboot): run "
                "services.stop --purge to start it afresh on disk, or keep durable = false"
            )
        return memory_cluster(instance_id, service.name)
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ProviderError(
            f"{data_dir} exists but is not a PostgreSQL cluster (no PG_VERSION); "
            "move it away, or run services.stop --purge to delete it"
        )
    if not service.durable and memory_usable():
        return memory_cluster(instance_id, service.name)
    return None


def prepare_data_dir(
    bin_dir: Path,
    service: Service,
    data_dir: Path,
    instance_id: str,
    user: str | None,
    stop_at: Path,
) -> Cluster:
    """A ready cluster for ``service``: the one it has (data survives stop), else a copy of
    the cached initdb (in memory for a non-durable service, see :mod:`realstack.pgstorage`)."""
    target = _place(service, data_dir, instance_id)
    top = stop_at if target in (None, data_dir) else memory_home()
    if target is not None and (target / "PG_VERSION").is_file():
        pgcluster.ensure_reachable(target, user, top)
        return Cluster(target, created=False)
    if target is None:
        target = data_dir
    else:  # memory: the mark first, so a start killed half-way finds the cluster's place
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (data_dir / MEMORY_MARK).write_text(f"{target}\n")
        sweep_orphans()  # a new cluster in memory: the place to clear deleted checkouts'
        claim_memory_dir(instance_id, data_dir.parent.parent)
        if target.exists():
            raise ProviderError(
                f"{target} exists but is not a PostgreSQL cluster (no PG_VERSION); "
                "move it away, or run services.stop --purge to delete it"
            )
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pgcluster.ensure_reachable(target.parent, user, top)
    from realstack import pgcache  # noqa: PLC0415 - filelock: only a new cluster loads it

    pgcache.copy_cached(bin_dir, service, target, user)
    pgcluster.ensure_reachable(target, user, top)
    return Cluster(target, created=True)

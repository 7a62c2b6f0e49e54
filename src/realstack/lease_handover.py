"""When the lease range is full, the instance stopped longest ago hands on a port.

A stopped instance keeps its lease for as long as its checkout exists, so that its URLs are
the same at its next start. A machine with more checkouts than the range has blocks (CI
clones, agents' worktrees, each with a test, staging and shard instances) fills the range;
every start then fell back to the manifest's ports, where the shards of one run collide. Now
the instance that has been stopped longest gives up one leased port, its registry entry
says so, and its own next start leases another (and says that, as for any move). A running
instance's ports are never handed on, nor those of one whose start holds its lock.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from pathlib import Path

from realstack import registry
from realstack.model import Service
from realstack.registry import Entry
from realstack.results import Event, Progress
from realstack.state import InstancePaths


def stopped_since(entry: Entry) -> float:
    """When the instance last started or stopped a service: its records directory changes
    then (a file written or removed); its entry's time when it has none."""
    try:
        return InstancePaths(Path(entry.state_dir)).services.stat().st_mtime
    except OSError:
        return entry.updated_at


def idle_stopped(entries: Iterable[Entry]) -> list[Entry]:
    """The stopped instances among ``entries`` whose lock no start holds, idle longest first:
    the ones whose leased ports may be handed on."""
    stopped = [e for e in entries if registry.state_of(e) == "stopped" and not _starting(e)]
    return sorted(stopped, key=stopped_since)


def hand_on(
    others: Iterable[Entry],
    keep: Collection[int],
    svc: Service,
    in_range: range,
    progress: Progress | None,
) -> int:
    """A port for ``svc``, in ``in_range`` and not in ``keep``, taken from the lease of the
    stopped instance idle longest (its entry rewritten without it) and told to ``progress``;
    OSError when every leased port belongs to a running instance."""
    from realstack import ports  # noqa: PLC0415 - psutil: only a full range pays for it

    for entry in idle_stopped(others):
        for name, held in entry.lease.items():
            port = int(held["port"])
            if port in in_range and port not in keep and not ports.answers(svc.host, port):
                registry.release(entry, name)
                if progress is not None:
                    from realstack.status import duration  # noqa: PLC0415 - a full range only

                    ago = duration(time.time() - stopped_since(entry))
                    why = (
                        f"the lease range is full: took port {port} from the lease of "
                        f"{entry.root} (env {entry.env}, stopped {ago} ago), whose next start "
                        "leases another"
                    )
                    progress(svc.name, Event.NOTE, why)
                return port
    raise OSError("no free port left in realstack's lease range: every block is leased")


def _starting(entry: Entry) -> bool:
    """Whether a start (or stop) of the instance holds its lock: it leases under that lock,
    so its ports may be bound any moment now. Unknown (its lock unreadable) counts as yes."""
    from filelock import FileLock, Timeout  # noqa: PLC0415

    path = InstancePaths(Path(entry.state_dir)).lock
    if not path.exists():  # a start creates it before it leases
        return False
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except (Timeout, OSError):
        return True
    lock.release()
    return False

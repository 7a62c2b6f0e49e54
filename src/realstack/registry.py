"""The machine's instances: one small file per instance that has run here, so one checkout can
see (``services.list``) and clean up (``services.prune``) the stacks of others — worktrees,
agents, CI jobs — including those whose checkout was deleted while their stack ran.

The registry is a note, not an authority: an entry says where an instance's state is; what
runs is decided, as everywhere, by that instance's own records and the providers' proof. It
lives in ``REALSTACK_HOME`` (default ``$XDG_STATE_HOME/realstack`` or
``~/.local/state/realstack``); a failure to write it never fails a start or a stop.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from realstack.model import Stack
from realstack.records import ContainerRecord, ProcessRecord, Records
from realstack.state import InstancePaths, StateDirError, write_atomic

if TYPE_CHECKING:
    from filelock import FileLock

State = Literal["running", "stopped", "checkout gone"]
LOCK_TIMEOUT = 30.0  # seconds; filelock's Timeout is an OSError: the start goes on unleased


def home() -> Path:
    if os.environ.get("REALSTACK_HOME"):
        return Path(os.environ["REALSTACK_HOME"])
    if os.environ.get("XDG_STATE_HOME"):
        return Path(os.environ["XDG_STATE_HOME"]) / "realstack"
    try:
        return Path.home() / ".local" / "state" / "realstack"
    except RuntimeError:  # no HOME and no passwd entry: one per user under the temp dir
        return Path(tempfile.gettempdir()) / f"realstack-registry-{os.getuid()}"


@dataclass(frozen=True)
class Entry:
    """Where an instance is: enough to rebuild its identity without its manifest."""

    instance_id: str
    root: str
    env: str
    instance: str
    state_dir: str
    ports: dict[str, int]
    updated_at: float
    # service → {"var": the ${VAR} its port comes from, "preferred": the manifest's port,
    # "port": the one leased}: what realstack.leases applies when the manifest says the same
    lease: dict[str, dict[str, str | int]] = field(default_factory=dict)

    def stack(self) -> Stack:
        """The instance, without services (its records name them)."""
        return Stack(Path(self.root), self.env, self.instance, Path(self.state_dir), ())

    @property
    def checkout_exists(self) -> bool:
        return (Path(self.root) / "pyproject.toml").is_file()


def _path(instance_id: str) -> Path:
    return home() / "instances" / f"{instance_id}.json"


def lock() -> FileLock:
    """The machine-wide lock under which ports are leased: two starts at the same instant
    never pick the same port. (filelock loads here: every load of a stack reads the
    registry, only starts lock it.)"""
    from filelock import FileLock  # noqa: PLC0415

    home().mkdir(mode=0o700, parents=True, exist_ok=True)
    # a holder stopped with Ctrl-Z must not block every start: then ports are not leased
    return FileLock(home() / "lock", timeout=LOCK_TIMEOUT)


def entry(instance_id: str) -> Entry | None:
    """One instance's entry (read directly: every load of a stack asks for its lease)."""
    return _read(_path(instance_id))


def note(
    stack: Stack,
    lease: dict[str, dict[str, str | int]] | None = None,
    ports: dict[str, int] | None = None,
) -> str | None:
    """Record (or refresh) ``stack`` as an instance of this machine, with its ``lease`` (None:
    the one it has) and the ports it holds (None: its services'); why not, if it failed.
    An entry that already says all this is left as it is: ``updated_at`` is when it last
    changed."""
    path = _path(stack.instance_id)
    known = _read(path)
    if lease is None:
        lease = known.lease if known is not None else {}
    record = Entry(
        stack.instance_id,
        str(stack.root),
        stack.env,
        stack.instance,
        str(stack.state_dir),
        ports if ports is not None else {s.name: s.port for s in stack.services if s.port},
        time.time(),
        lease,
    )
    if known is not None and replace(known, updated_at=record.updated_at) == record:
        return None  # it says this already (as after a warm start, which writes nothing)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, json.dumps(asdict(record), indent=2) + "\n")
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    except Exception as exc:  # noqa: BLE001 - the registry is advisory: say so, go on
        return f"{path}: {exc}"
    return None


def release(entry: Entry, *names: str) -> None:
    """Rewrite another instance's entry without the ports and leases of services ``names``
    (handed on to a start that found the range full, or freed by ``services.prune
    --stopped``: :mod:`realstack.lease_handover`)."""
    ports = {k: v for k, v in entry.ports.items() if k not in names}
    lease = {k: v for k, v in entry.lease.items() if k not in names}
    released = replace(entry, ports=ports, lease=lease, updated_at=time.time())
    with contextlib.suppress(OSError, StateDirError):  # advisory: both entries name it then
        write_atomic(_path(entry.instance_id), json.dumps(asdict(released), indent=2) + "\n")


def forget(instance_id: str) -> None:
    """Drop an instance's entry (it runs nothing any more, or it was pruned)."""
    with contextlib.suppress(OSError):  # advisory: a stale entry shows as stopped, is pruned
        _path(instance_id).unlink(missing_ok=True)


def entries() -> list[Entry]:
    """Every readable entry, oldest first (an unreadable one is skipped: advisory)."""
    found = [_read(path) for path in (home() / "instances").glob("*.json")]
    return sorted((e for e in found if e is not None), key=lambda e: e.updated_at)


def _read(path: Path) -> Entry | None:
    try:
        data = json.loads(path.read_text())
        return Entry(
            str(data["instance_id"]),
            str(data["root"]),
            str(data["env"]),
            str(data["instance"]),
            str(data["state_dir"]),
            {str(k): int(v) for k, v in dict(data["ports"]).items()},
            float(data["updated_at"]),
            _lease(data.get("lease", {})),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _lease(raw: object) -> dict[str, dict[str, str | int]]:
    """A lease as written by :func:`realstack.leases.claim`; anything else is no lease (the
    registry is a note: a damaged one costs a move, never a failed command)."""
    if not isinstance(raw, dict):
        return {}
    lease: dict[str, dict[str, str | int]] = {}
    for name, held in raw.items():
        if not isinstance(held, dict):
            return {}
        var, preferred, port = held.get("var"), held.get("preferred"), held.get("port")
        if not (isinstance(var, str) and isinstance(preferred, int) and isinstance(port, int)):
            return {}
        if not (0 < preferred < 65536 and 0 < port < 65536) or isinstance(port, bool):
            return {}
        lease[str(name)] = {"var": var, "preferred": preferred, "port": port}
    return lease


def running_ports(
    state_dir: Path, instance_id: str, names: Iterable[str] | None = None
) -> dict[str, int]:
    """An instance's services that run now, by its own records (a live recorded process, or a
    recorded container), with the port each runs on; ``names`` default: every record."""
    from realstack.supervisor import process_of  # noqa: PLC0415 - psutil: only who asks

    paths = InstancePaths(state_dir)
    records = Records(paths, instance_id)
    if names is None:
        names = (
            sorted(p.stem for p in paths.services.glob("*.json")) if paths.services.is_dir() else []
        )
    found = {}
    for name in names:
        record = records.read(name)
        if isinstance(record, ContainerRecord) or (
            isinstance(record, ProcessRecord) and process_of(record) is not None
        ):
            found[name] = record.port
    return found


def state_of(entry: Entry) -> State:
    """``running`` when a recorded process is alive with its recorded start time (or a
    container is recorded); a gone checkout says so first, whatever runs."""
    if not entry.checkout_exists:
        return "checkout gone"
    return "running" if running_ports(Path(entry.state_dir), entry.instance_id) else "stopped"

"""One-shot tasks (migrations, seeders, fixture loaders): when one runs again, and what its
last run left behind.

A task's *key* digests what it would run: its command, working directory, what it inherits,
its dependencies' exports and its own ``env`` (a moved database is a new key), and the bytes
of its ``inputs`` files (``alembic/versions/*.py``: a new migration is a new key) and of the
project files its command names (``migrate.py``). A start
runs a task whose key differs from its last successful run's, or every time with
``rerun = "always"``; purging a service forgets the runs of the tasks that depend on it, since
what they did lived in that service's data. The last run of each task is a small JSON file in
the instance's state dir, ``tasks/<name>.json``.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from realstack import graph
from realstack.model import Service, Stack
from realstack.records import Settings
from realstack.state import write_atomic

TASKS_DIR = "tasks"


TIMED_OUT = -256  # a Completion's exit_code for a run stopped at its startup_timeout


@dataclass(frozen=True)
class Completion:
    """A task's last run: its key, how it ended, when and how long it took."""

    key: str
    exit_code: int
    finished_at: float
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def _path(stack: Stack, name: str) -> Path:
    return stack.state_dir / TASKS_DIR / f"{name}.json"


def _input_files(root: Path, patterns: tuple[str, ...]) -> list[Path]:
    found = {p for pattern in patterns for p in root.glob(pattern) if p.is_file()}
    return sorted(found)


def _command_files(svc: Service, root: Path) -> list[Path]:
    """Files under the project that the command names (``{python} migrate.py``): a changed
    script is a changed task even where ``inputs`` does not list it."""
    cwd = svc.cwd or root
    found = []
    for arg in svc.command[1:]:
        path = Path(arg) if Path(arg).is_absolute() else cwd / arg
        try:
            if path.is_file() and path.resolve().is_relative_to(root.resolve()):
                found.append(path)
        except OSError:  # an argument that is no path (too long, odd bytes)
            continue
    return found


def key_of(stack: Stack, svc: Service, settings: Settings) -> str:
    """The digest a run of ``svc`` is compared by (``settings``: what it runs with, as a
    process's drift is judged, see :func:`realstack.plan.settings_of`)."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    files = sorted({*_input_files(stack.root, svc.inputs), *_command_files(svc, stack.root)})
    for path in files:
        digest.update(str(path.relative_to(stack.root)).encode() + b"\0")
        try:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        except OSError as exc:  # unreadable now: a key that matches no earlier run
            digest.update(f"unreadable: {exc.strerror}".encode())
    return digest.hexdigest()[:16]


def last_run(stack: Stack, name: str) -> Completion | None:
    """The task's last recorded run; ``None`` when there is none or it cannot be read (the
    task then simply runs again)."""
    try:
        data = json.loads(_path(stack, name).read_text())
        return Completion(
            key=str(data["key"]),
            exit_code=int(data["exit_code"]),
            finished_at=float(data["finished_at"]),
            seconds=float(data["seconds"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record_run(stack: Stack, name: str, key: str, exit_code: int, seconds: float) -> None:
    path = _path(stack, name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    run = Completion(key, exit_code, time.time(), seconds)
    write_atomic(path, json.dumps(asdict(run), indent=2) + "\n")


def up_to_date(stack: Stack, svc: Service, key: str) -> Completion | None:
    """The earlier successful run that makes running ``svc`` again unnecessary, if any."""
    if svc.rerun == "always":
        return None
    run = last_run(stack, svc.name)
    return run if run is not None and run.ok and run.key == key else None


def forget(stack: Stack, name: str) -> None:
    """Forget a task's last run (a run stopped halfway left its work unknown)."""
    _path(stack, name).unlink(missing_ok=True)


def forget_dependents(stack: Stack, purged: str) -> list[str]:
    """Forget the runs of the tasks that depend (transitively) on ``purged``, and of
    ``purged`` itself if it is a task; the names forgotten."""
    forgotten = []
    for svc in stack.services:
        if not svc.is_task:
            continue
        needs = {s.name for s in graph.with_dependencies(stack.services, [svc.name])}
        if purged in needs:
            path = _path(stack, svc.name)
            if path.exists():
                path.unlink()
                forgotten.append(svc.name)
    return forgotten


def completion_keys(stack: Stack) -> dict[str, str]:
    """Each task's key of its last successful run: what the data its dependents see was
    produced by (per-worker database templates are keyed by it)."""
    keys = {}
    for svc in stack.services:
        if svc.is_task:
            run = last_run(stack, svc.name)
            if run is not None and run.ok:
                keys[svc.name] = run.key
    return keys

"""The per-instance state directory: ``.realstack/<instance>/`` and the paths inside it.

Damage to it (a file where a directory belongs, a directory where a file belongs, a place
this user cannot use) is one :class:`StateDirError` naming the path and the fix, said before
anything starts or stops. realstack never removes what is in the way: it may be someone's.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from realstack.errors import RealstackError
from realstack.gitignore import DEFAULT_BASE, ignore_in_git, topmost_missing

ELSEWHERE = "point tool.realstack.state_dir or REALSTACK_STATE_DIR at a directory this user can use"


class StateDirError(RealstackError):
    """The state directory cannot be used as it is: ``path`` is where, ``fix`` what to do.

    Exit code 1, like any failure of the machine rather than of the manifest (a bad
    ``state_dir`` value itself is a :class:`~realstack.errors.ConfigError`).
    """

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        self.path = path
        self.problem = problem
        self.fix = fix
        super().__init__(f"state directory: {path} {problem}: {fix}")


def move_aside(path: Path) -> str:
    """The fix for something in the way: the user moves it (realstack removes nothing)."""
    return f"move it aside (e.g. `mv {path} {path}.damaged`); realstack recreates it"


def _denied(path: Path, write: bool) -> StateDirError:
    need = "read, write and enter" if write else "read and enter"
    return StateDirError(
        path,
        f"is a directory this user (uid {os.getuid()}) cannot {need}",
        f"give this user access (chmod u+rwx {path}), or {ELSEWHERE}",
    )


def _usable(path: Path, write: bool) -> bool:
    return os.access(path, os.R_OK | os.X_OK | (os.W_OK if write else 0))


@dataclass(frozen=True)
class InstancePaths:
    """Where one instance keeps its lock, records, logs, data and env contract."""

    root: Path

    @property
    def base(self) -> Path:
        """The state base shared by all instances (holds cached templates)."""
        return self.root.parent

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def services(self) -> Path:
        return self.root / "services"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def templates(self) -> Path:
        return self.base / "_templates"

    @property
    def tests_broken(self) -> Path:
        """The note of an outage that did not end (:mod:`realstack.pytest_plugin.broken`)."""
        return self.root / "tests.broken"

    @property
    def runtime_env(self) -> Path:
        return self.root / "runtime.env"

    @property
    def runtime_json(self) -> Path:
        return self.root / "runtime.json"

    @property
    def engine_used(self) -> Path:
        """Written before this instance's first container is created: without it no container
        of the instance can exist, so a native stack's start, stop and status never ask a
        Docker engine (nor pay its SDK import and requests) for one."""
        return self.root / "engine-used"

    def record(self, service: str) -> Path:
        return self.services / f"{service}.json"

    def log(self, service: str) -> Path:
        return self.logs / f"{service}.log"

    def data_for(self, service: str) -> Path:
        return self.data / service

    def check(self, services: Iterable[str] = (), *, write: bool = True) -> None:
        """Raise :class:`StateDirError` unless the tree can be used as it is: every part that
        exists has the right type (directory or file) and this user can read it (``write``:
        and write it); what is missing can be created. Changes nothing.

        ``services`` adds their records, logs and data directories to what is checked.
        """
        names = tuple(services)
        try:
            self._check_above(write)
            for path in self._dirs(names):
                if os.path.lexists(path) and not path.is_dir():
                    fix = ELSEWHERE if path == self.base else move_aside(path)
                    raise StateDirError(path, "is not a directory", fix)
                if path.is_dir() and not _usable(path, write):
                    raise _denied(path, write)
            for path in self._files(names):
                if os.path.lexists(path) and not path.is_file():
                    what = "a directory" if path.is_dir() else "not a regular file"
                    raise StateDirError(
                        path, f"is {what}, where realstack keeps a file", move_aside(path)
                    )
        except OSError as exc:  # stat itself failed: a permission or I/O problem
            where = Path(exc.filename) if exc.filename else self.root
            raise StateDirError(
                where, f"cannot be inspected ({exc.strerror or exc})", ELSEWHERE
            ) from None

    def _check_above(self, write: bool) -> None:
        """The nearest part of the base that exists must be a directory to create in."""
        above = self.base
        while not os.path.lexists(above) and above != above.parent:
            above = above.parent
        if above == self.base:
            return  # checked with the other directories
        if not above.is_dir():
            raise StateDirError(
                above, "is not a directory, so nothing can be created under it", ELSEWHERE
            )
        if not _usable(above, write):
            raise _denied(above, write)

    def _dirs(self, names: tuple[str, ...]) -> list[Path]:
        own = [self.base, self.root, self.services, self.logs, self.data, self.templates]
        return own + [self.data_for(name) for name in names]

    def _files(self, names: tuple[str, ...]) -> list[Path]:
        own = [self.lock, self.runtime_env, self.runtime_json]
        return own + [self.record(name) for name in names] + [self.log(name) for name in names]

    def ensure(self, services: Iterable[str] = ()) -> None:
        """Check the tree (see :meth:`check`), then create it, private to this user (0700),
        the top of what it created (and a default-named base) ignored by git."""
        self.check(services, write=True)
        marked = [top] if (top := topmost_missing(self.root)) else []
        for path in (self.base, self.root, self.services, self.logs, self.data):
            make_dir(path)
        if self.base.name == DEFAULT_BASE and self.base not in marked:
            marked.append(self.base)
        for directory in marked:
            try:
                ignore_in_git(directory)
            except OSError as exc:
                raise _unwritable(directory / ".gitignore", exc, directory=False) from None


def make_dir(path: Path) -> None:
    """``mkdir -p`` private to this user (0700); a failure is a StateDirError naming it."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        if os.path.lexists(path) and not path.is_dir():
            raise StateDirError(path, "is not a directory", move_aside(path)) from None
        raise StateDirError(path, f"cannot be created ({exc.strerror or exc})", ELSEWHERE) from None


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file in the same directory and rename, so readers never see half.

    No fsync: the rename is atomic for every process, which is what these files guard
    against (a starter killed mid-write); after a power loss no recorded process exists anyway.
    A failure is a :class:`StateDirError` naming the path.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise _unwritable(path.parent, exc, directory=True) from None
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        Path(tmp).replace(path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _unwritable(path, exc, directory=False) from None
        raise


def _unwritable(path: Path, exc: OSError, *, directory: bool) -> StateDirError:
    """Why ``path`` (a ``directory`` to write in, or a file) could not be written."""
    if directory and os.path.lexists(path) and not path.is_dir():
        return StateDirError(path, "is not a directory", move_aside(path))
    if not directory and path.is_dir():
        return StateDirError(path, "is a directory, where realstack keeps a file", move_aside(path))
    return StateDirError(path, f"cannot be written ({exc.strerror or exc})", ELSEWHERE)


def keep_traceback(paths: InstancePaths, trace: str) -> Path:
    """Append an unexpected error's traceback to the instance's ``logs/realstack.log``; where
    it went (``OSError`` when it could not be kept: callers say so instead)."""
    log = paths.logs / "realstack.log"
    top = topmost_missing(paths.logs)
    paths.logs.mkdir(mode=0o700, parents=True, exist_ok=True)
    if top is not None:
        ignore_in_git(top)
    with log.open("a") as fh:
        fh.write(trace)
    return log

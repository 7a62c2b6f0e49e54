"""PostgreSQL clusters as root: PostgreSQL refuses root, so it runs as a non-root user, which
must own the data directory and be able to reach it; and initdb itself (whose result
:mod:`realstack.pgcache` keeps, and :mod:`realstack.pgstorage` places).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from realstack.errors import ProviderError, ProviderUnavailable
from realstack.model import Service
from realstack.supervisor import account, as_user


def run_as_user() -> str | None:
    """The user PostgreSQL runs as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ProviderError(
        "running as root and no 'postgres' or 'nobody' user exists to run "
        "PostgreSQL as; create one (useradd --system postgres) or run "
        "realstack as a normal user"
    )


def chown_tree(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, entry.pw_uid, entry.pw_gid)
        for name in (*dirnames, *filenames):
            os.chown(Path(dirpath, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _traversable(mode: os.stat_result, uid: int, gids: tuple[int, ...]) -> bool:
    if mode.st_uid == uid:
        return bool(mode.st_mode & stat.S_IXUSR)
    if mode.st_gid in gids:
        return bool(mode.st_mode & stat.S_IXGRP)
    return bool(mode.st_mode & stat.S_IXOTH)


_STATE_FIX = (
    'state_dir = "/var/tmp/realstack-<project>" under [tool.realstack], or '
    "REALSTACK_STATE_DIR in every shell that runs realstack"
)


def check_state_reachable(base: Path, user: str | None) -> None:
    """Before anything starts: ``user`` must be able to walk down to the state dir (below it,
    realstack makes its own directories traversable), or PostgreSQL fails only after the
    services before it were started and rolled back."""
    if user is None:
        return
    uid, _, gids = account(user)
    for directory in (base.parent, *base.parent.parents):
        if directory.exists() and not _traversable(directory.stat(), uid, gids):
            raise ProviderUnavailable(
                f"PostgreSQL runs as '{user}' (realstack runs as root) and cannot reach the "
                f"state dir {base}: {directory} is not traversable for it. Put the state "
                f"elsewhere ({_STATE_FIX}), or run as a normal user.",
                provider="native",
            )


def ensure_reachable(path: Path, user: str | None, stop_at: Path | None = None) -> None:
    """Make sure ``user`` can reach ``path``.

    Directories from ``stop_at`` (realstack's state) down to ``path`` are made traversable
    (not listable) for it; anything above, or everything when ``stop_at`` is None (e.g. the
    binaries), is only checked.
    """
    if user is None:
        return
    uid, _, gids = account(user)
    for directory in (path, *path.parents):
        mode = directory.stat()
        if stop_at is not None and (directory == stop_at or stop_at in directory.parents):
            if mode.st_uid != uid:  # ours: let it traverse (not list); its own: as is
                directory.chmod(stat.S_IMODE(mode.st_mode) | stat.S_IXOTH)
            continue
        if not _traversable(mode, uid, gids):
            fix = (
                f"Put the state elsewhere ({_STATE_FIX})"
                if stop_at is not None
                else "Point bin_dir at binaries it can read"
            )
            raise ProviderError(
                f"PostgreSQL runs as '{user}' (realstack runs as root) and cannot reach "
                f"{path}: {directory} is not traversable for it. {fix}, or run as a normal user."
            )


def _run(argv: list[str], user: str | None, cwd: Path, what: str, stdin: bytes = b"") -> None:
    done = subprocess.run(
        argv, input=stdin, capture_output=True, cwd=cwd, check=False, **as_user(user)
    )
    if done.returncode != 0:
        out = (done.stdout + done.stderr).decode(errors="replace").strip()
        raise ProviderError(f"{what} failed (exit {done.returncode}): {' '.join(argv)}\n{out}")


def build_initdb(bin_dir: Path, service: Service, target: Path, user: str | None) -> None:
    """initdb into a scratch dir next to ``target``, create the database, rename into place
    (as ``user``: ``target``'s directory must be reachable for it)."""
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        cluster = scratch / "cluster"
        pwfile = scratch / "pw"
        pwfile.write_text(service.password + "\n")
        chown_tree(scratch, user)
        scratch.chmod(0o700)
        # no password in the manifest: a local throwaway cluster nobody can log in to would be
        # useless, so TCP logins are trusted (bound to the manifest's host, like the socket)
        login = (
            ["--pwfile", str(pwfile), "--auth-host=scram-sha-256"]
            if service.password
            else ["--auth-host=trust"]
        )
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(cluster),
                "-U",
                service.user,
                *login,
                "--auth-local=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ],
            user,
            scratch,
            "initdb",
        )
        if service.database not in ("postgres", "template1", "template0"):
            sql = f'CREATE DATABASE "{service.database.replace(chr(34), chr(34) * 2)}";\n'
            _run(
                [
                    str(bin_dir / "postgres"),
                    "--single",
                    "-D",
                    str(cluster),
                    "-c",
                    "fsync=off",
                    "template1",
                ],
                user,
                scratch,
                "creating the database",
                stdin=sql.encode(),
            )
        cluster.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

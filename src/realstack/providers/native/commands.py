"""Whether an app process's or task's command can run at all, checked before anything starts.

A typo in ``command``, ``cwd`` or the top-level ``python`` is a mistake in the manifest: it is
said with the field it came from, exit 2, before a database is started only to be rolled back
when the exec fails (which read as "unexpected FileNotFoundError").
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from realstack import graph
from realstack.errors import ConfigError
from realstack.fields import key
from realstack.model import Service, Stack
from realstack.project import ROOT


def check_command(svc: Service) -> None:
    """ConfigError when ``svc``'s working directory or executable is not there.

    The executable is looked up as the exec will: a name on the PATH its process gets (its
    own ``env``'s, else the caller's), a path with a ``/`` relative to its ``cwd``.
    """
    path = key(f"{ROOT}.services", svc.name)
    cwd = svc.cwd or Path.cwd()
    if not cwd.is_dir():
        what = "is not a directory" if cwd.exists() else "does not exist"
        raise ConfigError(f"{path}.cwd", f"{cwd} {what}")
    if not svc.command:
        return
    program = svc.command[0]
    field = f"{path}.command[0]"
    if "/" in program:
        target = cwd / program
        if not target.exists():
            raise ConfigError(field, f"{program} does not exist{_relative(program, cwd)}")
        if target.is_dir() or not os.access(target, os.X_OK):
            raise ConfigError(field, f"{program} is not an executable file")
        return
    search = svc.env.get("PATH", os.environ.get("PATH", os.defpath))
    if shutil.which(program, path=search) is None:
        raise ConfigError(field, f"{program!r} is not found on the PATH the process gets")


def _relative(program: str, cwd: Path) -> str:
    return "" if program.startswith("/") else f" (relative to {cwd})"


def after_a_task(stack: Stack, svc: Service) -> bool:
    """Whether a one-shot task runs before ``svc`` (it depends on one, directly or not): a
    build step may make the program or directory it runs, so its command is checked when it
    starts, not before anything starts."""
    needed = graph.with_dependencies(stack.services, [svc.name])
    return any(dep.is_task for dep in needed if dep.name != svc.name)


def cannot_exec(svc: Service, exc: OSError) -> ConfigError:
    """Why the exec failed, as the manifest's fault: what :func:`check_command` finds (a
    command checked at its start, after a task), else the exec's own refusal (``Exec format
    error``: a text file marked executable, a binary for another machine)."""
    check_command(svc)
    field = f"{key(f'{ROOT}.services', svc.name)}.command[0]"
    return ConfigError(field, f"{svc.command[0]} cannot be run: {exc.strerror or exc}")

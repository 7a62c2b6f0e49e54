"""What of a project is still there: processes bearing its marks, spawns, bound ports.

A process counts as the instance's by any mark realstack gives it (the owner variable, a std
stream into the state dir, the state dir or compose project in its command line), so an
orphan is found whichever mark survived the kill.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil
from chaos_project import Project

from realstack.supervisor import OWNER_VAR


def stdout_pids(log: Path) -> frozenset[str]:
    """Pids whose stdout is ``log`` (set by Popen before exec: the earliest sign of a spawn)."""
    want, found = str(log), set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if str(Path(f"/proc/{entry.name}/fd/1").readlink()) == want:
                    found.add(entry.name)
    return frozenset(found)


def why_ours(proc: psutil.Process, proj: Project, instance_id: str) -> str | None:
    """Which mark of ``proj``'s instance ``proc`` bears: env marker, a std stream into the
    state dir, the state dir or the compose project in its command line; else ``None``."""
    base = str(proj.state_base)
    in_base = re.compile(re.escape(base) + r"(/|\s|$)")
    try:
        owner = proc.environ().get(OWNER_VAR, "")
        if owner and (instance_id in owner or in_base.match(owner)):  # any marker format
            return f"{OWNER_VAR}={owner}"
        for fd in (0, 1, 2):
            with contextlib.suppress(OSError):
                target = str(Path(f"/proc/{proc.pid}/fd/{fd}").readlink())
                if in_base.match(target):
                    return f"fd {fd} -> {target}"
        cmdline = " ".join(proc.cmdline())
        if in_base.search(cmdline):
            return "state dir in its command line"
        if proj.provider == "docker" and proj.compose_project in cmdline:
            return "compose project in its command line"
    except psutil.Error:
        return None
    return None


def instance_processes(proj: Project, exclude: Iterable[int] = ()) -> list[tuple[Any, str]]:
    """Live processes bearing ``proj``'s marks, with the mark (zombies, us and ``exclude`` not)."""
    skip = {os.getpid(), *exclude}
    instance_id = proj.instance_id
    found: list[tuple[Any, str]] = []
    for proc in psutil.process_iter():
        if proc.pid in skip:
            continue
        with contextlib.suppress(psutil.Error):
            why = why_ours(proc, proj, instance_id)
            if why is not None and proc.status() != psutil.STATUS_ZOMBIE:
                found.append((proc, why))
    return found


def composing(proj: Project, svc: str) -> bool:
    """Whether a ``compose ... up ... <svc>`` of this project runs (docker's spawn)."""
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if proj.compose_project in cmd and "up" in cmd and svc in cmd:
            return True
    return False


def ended(proc: psutil.Process) -> bool:
    """Gone, its pid reused, or a zombie (orphaned children here may wait long for a reaper)."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def port_bound(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False

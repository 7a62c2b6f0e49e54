"""Forged and garbled records, and the victim they point at.

A record is only a claim: a stop must check it against the live process (or container)
before signalling anything. So records name an unrelated process of ours (the victim, which
notes any signal), project A's live servers, wrong types and garbage; ``damage`` puts no
regular file at all where a record belongs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from chaos_docker import Docker
from chaos_io import Output, wait_for
from chaos_project import SERVICES, Project

OTHER_INSTANCE = "f00dfeedf00dfeed"  # a well-formed instance id that is nobody's

# Blocks on stdin; reports every catchable signal instead of dying, so any signal shows.
VICTIM = textwrap.dedent(
    """
    import signal, sys
    def note(signum, frame):
        sys.stdout.write(f"signal {signum}\\n")
        sys.stdout.flush()
    for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGCONT"):
        signal.signal(getattr(signal, name), note)
    print("ready", flush=True)
    sys.stdin.read()
    """
)


class Victim:
    """An unrelated process of ours (own session, blocked on stdin) that notes any signal."""

    def __init__(self) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-c", VICTIM],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self.popen.stdout is not None
        self.output = Output(self.popen.stdout)
        if not wait_for(lambda: "ready" in self.output.text(), 30, "victim not ready"):
            self.finish()
            raise RuntimeError(f"the victim process did not start: {self.output.text()!r}")
        self.pid = self.popen.pid
        self.create_time = psutil.Process(self.pid).create_time()

    def signals(self) -> list[str]:
        """Signals it noted, and its death if it died (SIGKILL cannot be noted)."""
        noted = [line for line in self.output.text().splitlines() if line.startswith("signal")]
        code = self.popen.poll()
        return noted + ([f"died (exit {code})"] if code is not None else [])

    def finish(self) -> list[str]:
        """End it by closing its stdin (killing it only if that does not do); what it noted."""
        found = self.signals()
        if self.popen.poll() is None:
            assert self.popen.stdin is not None
            with contextlib.suppress(OSError):
                self.popen.stdin.close()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self.output.close()
        return found


@dataclass(frozen=True)
class Plant:
    """What to put where a record belongs: a file's bytes, a directory or a symlink."""

    data: bytes = b""
    directory: bool = False
    link: Path | None = None
    fifo: bool = False

    @staticmethod
    def clear(path: Path) -> None:
        """Remove whatever is at ``path`` (realstack never removes what is in the way)."""
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        path.unlink(missing_ok=True)

    def put(self, path: Path) -> None:
        self.clear(path)
        if self.link is not None:
            path.symlink_to(self.link)
        elif self.directory:
            path.mkdir()
            (path / "record.json").write_text("{}")
        elif self.fifo:
            os.mkfifo(path)  # opening it for reading blocks until a writer comes
        else:
            path.write_bytes(self.data)


@dataclass(frozen=True)
class Forge:
    """Everything a forged record of project B may point at."""

    b_instance: str
    b_project: str
    victim: tuple[int, float]  # pid, create time
    a_process: dict[str, tuple[int, float]]  # per service: a live process of project A
    a_record: dict[str, Path]
    a_container: dict[str, str]  # docker: per service, A's container id
    a_project: str
    ports: dict[str, int]
    nowhere: Path


def make_forge(
    a: Project, b: Project, victim: Victim, docker: Docker | None, nowhere: Path
) -> Forge:
    """What B's records may point at: the victim and A's live servers and containers."""
    a_process, a_container = {}, {}
    for svc in SERVICES:
        data = json.loads(a.paths.record(svc).read_text())
        if "container_id" in data:
            assert docker is not None
            a_container[svc] = data["container_id"]
            container = docker.client.containers.get(data["container_id"])
            pid = int(container.attrs["State"]["Pid"])
        else:
            pid = int(data["pid"])
        a_process[svc] = (pid, psutil.Process(pid).create_time())
    return Forge(
        b_instance=b.instance_id,
        b_project=b.compose_project,
        victim=(victim.pid, victim.create_time),
        a_process=a_process,
        a_record={svc: a.paths.record(svc) for svc in SERVICES},
        a_container=a_container,
        a_project=a.compose_project,
        ports=b.ports,
        nowhere=nowhere,
    )


def _record(forge: Forge, svc: str, **over: object) -> Plant:
    """A well-formed record of ``svc`` pointing at the victim, with ``over`` changed
    (``...`` leaves a field out)."""
    pid, create_time = forge.victim
    data: dict[str, object] = {
        "service": svc,
        "instance": forge.b_instance,
        "provider": "native",
        "pid": pid,
        "create_time": create_time,
        "port": forge.ports[svc],
        "argv": ["forged"],
        "user": None,
        "settings": {},
        "started_at": time.time(),
        "ready_seconds": None,
    }
    data.update(over)
    return Plant(json.dumps({k: v for k, v in data.items() if v is not ...}).encode())


def damage(forge: Forge, svc: str) -> list[tuple[str, Plant]]:
    """No regular file where the record of ``svc`` belongs. realstack may refuse to go on
    (naming the path), so each is tried alone."""
    return [
        ("directory", Plant(directory=True)),
        ("dangling symlink", Plant(link=forge.nowhere)),
        ("symlink loop", Plant(link=Path(f"{svc}.json"))),
        ("FIFO", Plant(fifo=True)),
    ]


def plants(forge: Forge, svc: str, docker: bool) -> list[tuple[str, Plant]]:
    """Forged and garbled records for ``svc``: the same list (by name) for every service."""
    vpid, vtime = forge.victim
    apid, atime = forge.a_process[svc]
    valid = _record(forge, svc).data
    found = [
        ("victim, other instance", _record(forge, svc, instance=OTHER_INSTANCE)),
        ("victim, this instance", _record(forge, svc)),
        ("victim, wrong create time", _record(forge, svc, create_time=vtime - 3600)),
        ("victim, unknown provider", _record(forge, svc, provider="nope")),
        ("victim, record of another service", _record(forge, svc, service="other")),
        ("victim, unknown field", _record(forge, svc, bogus=1)),
        ("victim, no create time", _record(forge, svc, create_time=...)),
        ("victim pid as a string", _record(forge, svc, pid=str(vpid))),
        ("victim create time as a string", _record(forge, svc, create_time=str(vtime))),
        ("negative victim pid (a group)", _record(forge, svc, pid=-vpid)),
        ("pid 0 (own group)", _record(forge, svc, pid=0)),
        ("pid true", _record(forge, svc, pid=True)),
        ("huge pid", _record(forge, svc, pid=2**62)),
        ("A's process, this instance", _record(forge, svc, pid=apid, create_time=atime)),
        ("A's record, copied", Plant(forge.a_record[svc].read_bytes())),
        ("symlink to A's record", Plant(link=forge.a_record[svc])),
        ("truncated JSON", Plant(valid[: len(valid) // 2])),
        ("JSON list", Plant(b"[1, 2, 3]")),
        ("JSON null", Plant(b"null")),
        ("empty file", Plant(b"")),
        ("binary garbage", Plant(bytes(range(256)))),
    ]
    if docker:
        container = forge.a_container.get(svc, "0" * 64)
        common = {"pid": ..., "create_time": ..., "argv": ..., "user": ..., "provider": "docker"}
        for label, project in (("A's", forge.a_project), ("B's", forge.b_project)):
            over = {**common, "container_id": container, "project": project, "compose_service": svc}
            found.append((f"A's container, {label} project", _record(forge, svc, **over)))
    return found

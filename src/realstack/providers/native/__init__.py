"""The native provider: local processes under realstack's supervisor.

A process is ours only if its record is this instance's, a live process has the recorded pid
and create time, and that process bears this instance's marks (the owner marker in its
environment, or the instance's log file as its stdout/stderr). Orphans (a starter killed
between spawn and record, a record lost) are found by the same marks, never by a record's word.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import psutil

from realstack import oneshot, ports, probes, process_scan, started, supervisor
from realstack.errors import ConfigError, ProviderUnavailable
from realstack.fields import key
from realstack.logfiles import FileLogs
from realstack.model import COMMAND_KINDS, Service, Stack
from realstack.project import ROOT
from realstack.providers import Absent, Exited, Found, Orphan, Ours, Stale
from realstack.providers.native.commands import after_a_task, cannot_exec, check_command
from realstack.records import ProcessRecord, Record, Settings
from realstack.state import InstancePaths
from realstack.waiting import Check


@dataclass(frozen=True)
class NativeHandle:
    proc: psutil.Process
    record: ProcessRecord
    logs: FileLogs

    def exited(self) -> Exited | None:
        if supervisor.has_exited(self.proc):
            return Exited(supervisor.exit_code(self.proc))
        return None

    def not_ready(self) -> str | None:
        return None

    def listening(self) -> list[tuple[str, int]]:
        found = set()
        try:
            tree = [self.proc, *self.proc.children(recursive=True)]
        except psutil.Error:
            return []
        for proc in tree:
            try:
                conns = proc.net_connections(kind="inet")
            except psutil.Error:
                continue
            found |= {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
        return sorted(found)


def _check_settings(svc: Service, postgres: str) -> None:
    """A misspelt PostgreSQL setting is refused before anything stops or starts (it would
    make the server exit, after a drift had stopped the one that worked)."""
    import difflib  # noqa: PLC0415

    from realstack.binaries import postgres_settings  # noqa: PLC0415

    known = postgres_settings(postgres) if svc.settings else frozenset()
    for name in svc.settings:
        if known and "." not in name and name not in known:  # "x.y": an extension's own
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(
                f"tool.realstack.services.{svc.name}.settings.{name}",
                f"{postgres} knows no setting {name!r}{hint}",
            )


class NativeProvider:
    """Runs postgres, redis and app processes as local processes of this instance."""

    name = "native"

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.paths = InstancePaths(stack.state_dir)
        # One pass over the process table answers `find` for every service of an operation
        # (the provider lives for one start, stop or status); a start or stop invalidates it.
        self._scan: dict[str, list[psutil.Process]] | None = None
        self._tree_ready = False  # the state tree checked and made by this operation
        self._lock = threading.Lock()  # guards both: a start's services run in threads

    def _orphans(self, svc: Service) -> list[psutil.Process]:
        with self._lock:
            if self._scan is None:
                self._scan = process_scan.scan([self.marks(s) for s in self.stack.services])
            found = self._scan.get(self.marks(svc).marker, [])
        return [p for p in found if not supervisor.has_exited(p)]

    def _forget_scan(self) -> None:
        with self._lock:
            self._scan = None

    def marks(self, svc: Service) -> process_scan.Marks:
        return process_scan.service_marks(self.paths.root, self.stack.instance_id, svc.name)

    def preflight(self, services: Sequence[Service]) -> None:
        from realstack import pgcluster  # noqa: PLC0415 - what starts loads; a warm start finds
        from realstack.binaries import find_postgres, find_redis  # noqa: PLC0415

        for svc in services:
            if svc.kind == "clickhouse":
                raise ProviderUnavailable(
                    f"{svc.name}: ClickHouse has no native provider; use docker",
                    provider=self.name,
                    service=svc.name,
                )
            bin_dir = f"{key(f'{ROOT}.services', svc.name)}.bin_dir"
            if svc.kind == "postgres":
                _check_settings(svc, str(find_postgres(svc.bin_dir, bin_dir).path))
                pgcluster.check_state_reachable(self.paths.base, pgcluster.run_as_user())
            elif svc.kind == "redis":
                find_redis(svc.bin_dir, bin_dir)
            elif svc.kind in COMMAND_KINDS and not after_a_task(self.stack, svc):
                check_command(svc)  # else at its start: a task before it may build what it runs

    def find(self, svc: Service, record: Record | None) -> Found:
        marks = self.marks(svc)
        if isinstance(record, ProcessRecord):
            proc = supervisor.process_of(record)
            if proc is not None and process_scan.bears(proc, marks):
                return Ours(NativeHandle(proc, record, self.logs(svc)))
        orphans = self._orphans(svc)
        if orphans:
            return Orphan(f"{len(orphans)} unrecorded process(es) of this instance", orphans[0].pid)
        return Stale(record) if record is not None else Absent()

    def _ensure_tree(self) -> None:
        """Check and make the state tree once per operation: a start's services share it."""
        with self._lock:
            if not self._tree_ready:
                self.paths.ensure()
                self._tree_ready = True

    def start(self, svc: Service, env: dict[str, str], settings: Settings) -> NativeHandle:
        from realstack.providers.native.launch import launch_spec  # noqa: PLC0415

        self._ensure_tree()
        spec = launch_spec(
            svc, self.paths, env, self.stack.instance_id, lambda: self._new_data(svc)
        )
        try:
            proc = supervisor.spawn(spec, self.marks(svc))
        except OSError as exc:  # a command not checked before (after a task), or ENOEXEC
            if svc.kind not in COMMAND_KINDS:
                raise
            raise cannot_exec(svc, exc) from None
        finally:
            self._forget_scan()  # after the spawn: a scan taken meanwhile must not hide it
        record = ProcessRecord(
            service=svc.name,
            instance=self.stack.instance_id,
            provider=self.name,
            pid=proc.pid,
            create_time=proc.create_time(),
            start_ticks=started.ticks(proc.pid),
            boot_id=started.boot_id(),
            port=svc.port,
            argv=spec.argv,
            user=spec.user,
            settings=settings,
        )
        return NativeHandle(proc, record, self.logs(svc))

    def _new_data(self, svc: Service) -> None:
        """A new, empty cluster (first start, purged, or its memory cleared by a reboot): no
        task that ran against the service before has its work in it, so each runs again."""
        oneshot.forget_dependents(self.stack, svc.name)

    def probe(self, svc: Service) -> Check:
        return probes.check_for(svc)

    def occupant(self, svc: Service) -> str | None:
        return ports.occupant(svc.host, svc.port)

    def stop(self, svc: Service, found: Ours | Orphan) -> None:
        from realstack.providers.native.launch import stop_signal  # noqa: PLC0415

        marks = self.marks(svc)
        handle = found.handle if isinstance(found, Ours) else None
        leader = handle.proc if isinstance(handle, NativeHandle) else None
        supervisor.stop(
            leader,
            marks,
            self._orphans(svc),  # this operation's scan; the SIGKILL step rescans
            stop_signal=stop_signal(svc),
            timeout=svc.stop_timeout,
        )
        if leader is not None:
            supervisor.forget(leader.pid)

    def purge(self, svc: Service) -> list[str]:
        """The service's data dir, and its cluster in memory (this instance's by its path)."""
        from realstack import pgstorage  # noqa: PLC0415

        gone = []
        memory = pgstorage.memory_cluster(self.stack.instance_id, svc.name)
        for path in (self.paths.data_for(svc.name), memory):
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)
                gone.append(str(path))
        pgstorage.release_memory_dir(self.stack.instance_id)
        return gone

    def finish(self, services: Sequence[Service], *, purge: bool) -> list[str]:
        return []

    def logs(self, svc: Service) -> FileLogs:
        return FileLogs(self.paths.log(svc.name))

"""Launch and readiness, one template for every provider (mirakuru's ``start`` → wait for
``check_subprocess``): reuse what is ours and current, clear orphans and drift, refuse a
foreign port, start, record, then wait until the probe passes or the service exits.

A one-shot task follows the same template up to the spawn (an earlier run still going is
stopped like an orphan); then it is skipped when its last successful run is current, and
"ready" means it exited 0 (:mod:`realstack.oneshot`)."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field

from realstack import graph, leases, oneshot
from realstack._scheduler import Cancelled
from realstack.errors import PortInUse, ProbeTimeout, ServiceExited, TaskFailed
from realstack.launch_words import LOG_TAIL, completed_before, elsewhere, tail_of, who
from realstack.model import COMMAND_KINDS, Service
from realstack.plan import Plan, drift
from realstack.probes import Permanent
from realstack.providers import Handle, Orphan, Ours, Stale
from realstack.providers.placement import Placement
from realstack.records import Record, Records
from realstack.results import Event, Progress
from realstack.runtime import Located, locate
from realstack.waiting import Clock, WaitTimeout, wait_until


@dataclass
class Launch:
    """The shared state of one start (its threads write under ``lock``)."""

    plan: Plan
    placement: Placement
    records: Records
    progress: Progress
    clock: Clock
    timeout: float | None  # None: each service's startup_timeout
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: list[str] = field(default_factory=list)  # what this start launched, in order
    handles: dict[str, Handle] = field(default_factory=dict)
    reused: set[str] = field(default_factory=set)
    restarted: set[str] = field(default_factory=set)  # ran before this start, drifted
    current: set[str] = field(default_factory=set)  # tasks whose last run is still current
    completed: set[str] = field(default_factory=set)  # tasks this start ran to exit 0
    task_keys: dict[str, str] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)  # log position before the start
    spawned_at: dict[str, float] = field(default_factory=dict)
    ready_seconds: dict[str, float] = field(default_factory=dict)
    seen_ready: dict[str, Record] = field(default_factory=dict)  # as recorded, when ready
    # what ``ports_taken`` found, for ``ensure_running`` to use once: nothing of a service
    # changes in between but by this start (the instance lock keeps other runs out)
    located: dict[str, Located] = field(default_factory=dict)

    def ensure_running(self, svc: Service) -> None:
        """Reuse a current service of ours; otherwise clear what is in the way and start it."""
        provider = self.plan.providers[svc.name]
        settings = self.plan.settings[svc.name]
        with self.lock:
            where = self.located.pop(svc.name, None)
        where = where or locate(self.placement, self.records, svc)
        if where.foreign_record:
            self.records.delete(svc.name)
            self.progress(
                svc.name, Event.STALE, "record of another instance; removed, nothing signalled"
            )
        found = where.found
        if isinstance(found, Ours | Orphan) and svc.is_task:  # a killed start left it going
            self.progress(svc.name, Event.ORPHANS, "an earlier run is still going; stopping it")
            oneshot.forget(self.plan.stack, svc.name)  # stopped halfway: it must run again
        elif isinstance(found, Ours):
            changed = drift(found.handle.record.settings, settings) or self._tasks_ran(svc)
            if not changed:
                self._reuse(svc, found)
                return
            self.progress(svc.name, Event.DRIFT, f"{changed}; restarting")
            with self.lock:
                self.restarted.add(svc.name)
        elif isinstance(found, Orphan):
            self.progress(svc.name, Event.ORPHANS, f"stopping {found.detail}")
        elif isinstance(found, Stale):
            self.progress(svc.name, Event.STALE, "recorded process is gone; record removed")
        if isinstance(found, Ours | Orphan) and where.provider is not None:
            where.provider.stop(svc, found)
        if where.record is not None:
            self.records.delete(svc.name)
        if svc.is_task:
            if self._current(svc):
                return
        else:
            occupant = provider.occupant(svc)
            if occupant is not None:
                setting = leases.port_setting(self.plan.stack, svc)
                raise PortInUse(svc.name, svc.port, occupant or None, setting)
        where_to = "" if svc.is_task else f", port {svc.port}"
        self.progress(svc.name, Event.STARTING, f"{provider.name}{where_to}")
        mark = provider.logs(svc).mark()
        with self.lock:  # from here a rollback stops it, whatever happens next
            self.started.append(svc.name)
            self.marks[svc.name] = mark
            self.spawned_at[svc.name] = self.clock.now()
        handle = provider.start(svc, self.plan.env[svc.name], settings)
        self.records.write(handle.record)
        with self.lock:
            self.handles[svc.name] = handle

    def _tasks_ran(self, svc: Service) -> str:
        """An app runs on what its tasks made: one of them ran in this start (a migration
        applied), so the running app restarts on the new schema."""
        if svc.kind not in COMMAND_KINDS:
            return ""
        with self.lock:
            ran = [d.service for d in svc.depends_on if d.service in self.completed]
        return f"{', '.join(ran)} ran" if ran else ""

    def _current(self, svc: Service) -> bool:
        """Whether a task's last successful run is still current (then it does not run)."""
        key = oneshot.key_of(self.plan.stack, svc, self.plan.settings[svc.name])
        with self.lock:
            self.task_keys[svc.name] = key
        done = (
            None if svc.name in self.plan.rerun else oneshot.up_to_date(self.plan.stack, svc, key)
        )
        if done is None:
            return False
        self.progress(svc.name, Event.UP_TO_DATE, completed_before(done.seconds))
        with self.lock:
            self.current.add(svc.name)
        return True

    def _held(self, svc: Service) -> list[str]:
        """What this start does not (re)start because a failed ``svc`` comes first."""
        return [s.name for s in graph.dependents(self.plan.services, svc.name)]

    def _reuse(self, svc: Service, found: Ours) -> None:
        self.progress(svc.name, Event.REUSED, f"{who(found.handle)}, port {svc.port}")
        with self.lock:
            self.handles[svc.name] = found.handle
            self.reused.add(svc.name)
            self.spawned_at[svc.name] = self.clock.now()

    def await_ready(self, svc: Service) -> None:
        """Probe until ready; fail at once if it exits or the run is cancelled."""
        if svc.is_task:
            self._await_task(svc)
            return
        with self.lock:
            handle = self.handles[svc.name]
            mark = self.marks.get(svc.name)
            spawned_at = self.spawned_at[svc.name]
        probe = self.plan.providers[svc.name].probe(svc)
        timeout = self.timeout if self.timeout is not None else svc.startup_timeout

        def check() -> str | None:
            if self.cancel.is_set():
                raise Cancelled
            ended = handle.exited()
            if ended is not None:
                lines = tail_of(svc, handle, LOG_TAIL, mark)  # it may have answered a few polls
                raise ServiceExited(svc.name, ended.code, lines, handle.logs.source)
            objection = handle.not_ready() or probe()
            if isinstance(objection, Permanent):  # the server answers: waiting changes nothing
                raise objection.error(svc.name)
            return objection

        def tick(elapsed: float, last_error: str) -> None:
            hint = elsewhere(svc, handle)
            detail = f"{elapsed:.1f}s/{timeout:g}s: {last_error}" + (f"; {hint}" if hint else "")
            self.progress(svc.name, Event.WAITING, detail)

        try:
            wait_until(check, timeout, clock=self.clock, on_tick=tick)
        except WaitTimeout as exc:
            raise ProbeTimeout(
                svc.name,
                svc.probe.describe(),
                exc.last_error,
                exc.elapsed,
                timeout,
                tail_of(svc, handle, LOG_TAIL, mark),
                handle.logs.source,
                elsewhere(svc, handle),
            ) from None
        seconds = self.clock.now() - spawned_at
        with self.lock:
            self.ready_seconds[svc.name] = seconds
            reused = svc.name in self.reused
        record = handle.record
        if not reused:  # keep the startup time with the process it describes
            record = dataclasses.replace(record, ready_seconds=seconds)
            self.records.write(record)
            self.progress(svc.name, Event.READY, f"in {seconds:.2f}s ({who(handle)})")
        with self.lock:
            self.seen_ready[svc.name] = record

    def _await_task(self, svc: Service) -> None:
        """Wait for a task to exit: 0 completes it, anything else (or its deadline) fails the
        start with its log tail. Its process record goes either way: nothing runs any more."""
        with self.lock:
            if svc.name in self.current:
                return
            handle = self.handles[svc.name]
            mark = self.marks.get(svc.name)
            spawned_at = self.spawned_at[svc.name]
            key = self.task_keys[svc.name]
        timeout = self.timeout if self.timeout is not None else svc.startup_timeout

        def check() -> str | None:
            if self.cancel.is_set():
                raise Cancelled
            return None if handle.exited() is not None else "running"

        try:
            wait_until(check, timeout, clock=self.clock)
        except WaitTimeout as exc:  # kept, so status says so (not "not run yet")
            oneshot.record_run(self.plan.stack, svc.name, key, oneshot.TIMED_OUT, exc.elapsed)
            tail = handle.logs.tail(LOG_TAIL, since=mark)
            held = self._held(svc)
            raise TaskFailed(svc.name, None, exc.elapsed, tail, handle.logs.source, held) from None
        ended = handle.exited()
        code = ended.code if ended is not None else None
        seconds = self.clock.now() - spawned_at
        oneshot.record_run(self.plan.stack, svc.name, key, -1 if code is None else code, seconds)
        self.records.delete(svc.name)
        if code != 0:
            tail = handle.logs.tail(LOG_TAIL, since=mark)
            raise TaskFailed(svc.name, code, seconds, tail, handle.logs.source, self._held(svc))
        with self.lock:
            self.completed.add(svc.name)
            self.ready_seconds[svc.name] = seconds
        self.progress(svc.name, Event.COMPLETED, f"exit 0 in {seconds:.2f}s")

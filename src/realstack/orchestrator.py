"""Start, stop and inspect a :class:`Stack`: graph + provider + supervisor + probes.

Results come back as values (one per service); exceptions are converted here, once. A start
starts only what is missing, in dependency order and in parallel where the graph allows, and
rolls back what it started if anything fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import graphlib
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from filelock import FileLock, Timeout

from realstack import envfile, graph, pidfile, probes, supervisor, teardown
from realstack.errors import (
    ConfigError,
    LockTimeout,
    PortInUse,
    ProbeTimeout,
    RealstackError,
    ServiceExited,
)
from realstack.model import PROVIDERS, SWITCHABLE_KINDS, Service, Stack
from realstack.providers import Provider
from realstack.providers import docker as docker_provider
from realstack.providers.native import NativeProvider, stop_signal
from realstack.results import Report, Reporter, ServiceResult
from realstack.state import InstancePaths, size_of, tail
from realstack.status import port_owner, running_services
from realstack.waiting import WaitTimeout, wait_until

LOG_TAIL = 20


def _quiet(service: str, event: str, detail: str) -> None:
    """Default reporter: say nothing."""


@dataclass
class _Running:
    proc: psutil.Process
    spawned_at: float
    reused: bool
    log_offset: int = 0  # where this run's output starts in the (appended) service log


@dataclass
class _StartRun:
    stack: Stack
    paths: InstancePaths
    provider: Provider
    report: Reporter
    timeout: float | None
    wait: bool
    providers: Mapping[str, str] = field(default_factory=dict)  # resolved: docker | native
    running: dict[str, _Running] = field(default_factory=dict)
    started_order: list[str] = field(default_factory=list)
    ready_seconds: dict[str, float] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def marker(self, svc: Service) -> str:
        return self.paths.marker(svc.name)

    def launch(self, svc: Service) -> None:
        """Reuse a healthy ours-process, or spawn one and record it at once."""
        record_path = self.paths.record(svc.name)
        record = pidfile.read(record_path)
        proc = pidfile.process_of(record) if record else None
        if proc is not None:
            self.report(svc.name, "reused", f"pid {proc.pid}, port {svc.port}")
            with self.lock:
                self.running[svc.name] = _Running(proc, time.monotonic(), reused=True)
            return
        if record is not None:
            self.report(svc.name, "stale", f"record of pid {record.pid} is stale; removed")
        record_path.unlink(missing_ok=True)
        if record is not None:
            supervisor.forget(record.pid)
        intent = self.paths.intent(svc.name)
        if self.is_docker(svc):
            self._launch_docker(svc, intent)
            return
        answering = _answers(svc)
        if record is not None or intent.exists() or answering:
            # An interrupted start, a dead leader or a wiped state dir may have left marked
            # processes behind: ours, so stop them rather than call the port foreign.
            orphans = supervisor.scan().get(self.marker(svc), [])
            if orphans:
                self.report(svc.name, "orphans", f"stopping {len(orphans)} unrecorded process(es)")
                supervisor.stop(
                    None,
                    self.marker(svc),
                    orphans,
                    stop_signal=stop_signal(svc),
                    timeout=svc.stop_timeout,
                )
                answering = _answers(svc)
        if answering:
            raise PortInUse(svc.name, svc.port, port_owner(svc.port))
        spec = self.provider.launch_spec(svc, self.paths)
        self.report(svc.name, "starting", f"{self.provider.name}, port {svc.port}")
        intent.touch()
        log = self.paths.log(svc.name)
        offset = size_of(log)
        proc = supervisor.spawn(spec, log, self.marker(svc))
        with self.lock:
            self.running[svc.name] = _Running(proc, time.monotonic(), False, offset)
            self.started_order.append(svc.name)
        pidfile.write(
            record_path,
            pidfile.Record(
                service=svc.name,
                pid=proc.pid,
                create_time=proc.create_time(),
                argv=spec.argv,
                port=svc.port,
                provider=self.provider.name,
                marker=self.marker(svc),
                user=spec.user,
            ),
        )
        intent.unlink()

    def is_docker(self, svc: Service) -> bool:
        return self.providers.get(svc.name) == "docker"

    def _launch_docker(self, svc: Service, intent: Path) -> None:
        """``compose up`` the service and record its container's main process as ours."""
        if _answers(svc) and not docker_provider.has_container(self.stack, svc):
            raise PortInUse(svc.name, svc.port, port_owner(svc.port))
        self.report(svc.name, "starting", f"docker, port {svc.port}")
        intent.touch()
        with self.lock:  # from here a rollback removes the container, whatever happens
            self.started_order.append(svc.name)
        spawned_at = time.monotonic()
        proc, argv = docker_provider.start(self.stack, svc)
        with self.lock:
            self.running[svc.name] = _Running(proc, spawned_at, False)
        pidfile.write(
            self.paths.record(svc.name),
            pidfile.Record(
                service=svc.name,
                pid=proc.pid,
                create_time=proc.create_time(),
                argv=argv,
                port=svc.port,
                provider="docker",
                marker=self.marker(svc),
            ),
        )
        intent.unlink()

    def _tail(self, svc: Service, run: _Running) -> tuple[list[str], str]:
        if self.is_docker(svc):
            source = docker_provider.log_source(self.stack, svc)
            return docker_provider.logs_tail(self.stack, svc, LOG_TAIL), source
        log = self.paths.log(svc.name)
        return tail(log, LOG_TAIL, run.log_offset), str(log)

    def await_ready(self, svc: Service) -> None:
        """Probe until ready; fail at once if the process exits or the run is cancelled."""
        run = self.running[svc.name]
        probe = probes.check_for(svc)
        timeout = self.timeout or svc.startup_timeout
        log = self.paths.log(svc.name)

        def check() -> str | None:
            if self.cancel.is_set():
                raise _Cancelled
            if self.is_docker(svc):
                state = docker_provider.container_state(self.stack, svc)
                if state.exited:
                    raise ServiceExited(svc.name, state.exit_code, *self._tail(svc, run))
                if state.health not in (None, "healthy"):
                    return f"container health: {state.health}"
            elif supervisor.has_exited(run.proc):
                raise ServiceExited(
                    svc.name,
                    supervisor.exit_code(run.proc),
                    tail(log, LOG_TAIL, run.log_offset),
                    str(log),
                )
            return probe()

        def tick(elapsed: float, last_error: str) -> None:
            self.report(svc.name, "waiting", f"{elapsed:.1f}s/{timeout:g}s: {last_error}")

        try:
            wait_until(check, timeout, on_tick=tick)
        except WaitTimeout as exc:
            raise ProbeTimeout(
                svc.name,
                svc.probe.describe(),
                exc.last_error,
                exc.elapsed,
                timeout,
                *self._tail(svc, run),
            ) from None
        seconds = time.monotonic() - run.spawned_at
        self.ready_seconds[svc.name] = seconds
        if not run.reused:
            record_path = self.paths.record(svc.name)
            record = pidfile.read(record_path)
            if record is not None:  # keep the startup time with the process it describes
                pidfile.write(record_path, dataclasses.replace(record, ready_seconds=seconds))
            self.report(svc.name, "ready", f"in {seconds:.2f}s (pid {run.proc.pid})")

    def execute(self, selected: Sequence[Service]) -> dict[str, RealstackError]:
        """Run the start graph; return the errors by service (empty on success)."""
        by_name = {s.name: s for s in selected}
        needed_healthy = {
            d.service for s in selected for d in s.depends_on if d.condition == "healthy"
        }
        sorter: graphlib.TopologicalSorter[tuple[str, str]] = graphlib.TopologicalSorter()
        for svc in selected:
            sorter.add((svc.name, "healthy"), (svc.name, "started"))
            sorter.add((svc.name, "started"), *((d.service, d.condition) for d in svc.depends_on))
        sorter.prepare()
        errors: dict[str, RealstackError] = {}

        def step(node: tuple[str, str]) -> None:
            name, phase = node
            svc = by_name[name]
            if phase == "started":
                self.launch(svc)
            elif self.wait or name in needed_healthy or self.running[name].reused:
                self.await_ready(svc)

        with ThreadPoolExecutor(max_workers=max(1, 2 * len(selected))) as pool:
            pending: dict[Future[None], tuple[str, str]] = {}
            try:
                self._drive(sorter, step, pool, pending, errors)
            except BaseException:
                self.cancel.set()  # workers notice at their next poll; the pool then joins them
                raise
        return errors

    def _drive(
        self,
        sorter: graphlib.TopologicalSorter[tuple[str, str]],
        step: Callable[[tuple[str, str]], None],
        pool: ThreadPoolExecutor,
        pending: dict[Future[None], tuple[str, str]],
        errors: dict[str, RealstackError],
    ) -> None:
        """Submit nodes as they become ready; on the first error, stop submitting."""
        while sorter.is_active() or pending:
            if not errors:
                for node in sorter.get_ready():
                    pending[pool.submit(step, node)] = node
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                node = pending.pop(future)
                exc = future.exception()
                if exc is None:
                    sorter.done(node)
                elif not isinstance(exc, _Cancelled):
                    errors[node[0]] = _as_realstack(node[0], exc)
                    self.cancel.set()


class _Cancelled(Exception):
    """Another service failed; stop waiting for this one."""


def _as_realstack(service: str, exc: BaseException) -> RealstackError:
    if isinstance(exc, RealstackError):
        return exc
    return RealstackError(f"{service}: unexpected {type(exc).__name__}: {exc}")


def _answers(svc: Service) -> bool:
    return probes.tcp_check(svc.host, svc.port, 0.5)() is None


@contextlib.contextmanager
def _locked(paths: InstancePaths, timeout: float) -> Iterator[None]:
    paths.ensure()
    try:
        with FileLock(paths.lock, timeout=timeout):
            yield
    except Timeout:
        raise LockTimeout(
            f"another realstack run holds {paths.lock} (waited {timeout:g}s)"
        ) from None


def check_names(stack: Stack, names: Sequence[str] | None, what: str = "only") -> None:
    """A usage error for any name that is not a service of ``stack``."""
    for name in names or ():
        if name not in stack.names:
            raise ConfigError(what, f"unknown service {name!r} (known: {', '.join(stack.names)})")


def resolve_providers(
    services: Sequence[Service], override: str | None = None, report: Reporter = _quiet
) -> dict[str, str]:
    """``docker`` or ``native`` per service; ``override`` (``--provider``) is for the kinds
    that run both ways (postgres, redis)."""
    if override is not None and override not in PROVIDERS:
        raise ConfigError("provider", f"expected one of {', '.join(PROVIDERS)}; got {override!r}")
    engine: bool | None = None
    resolved: dict[str, str] = {}
    for svc in services:
        choice = svc.provider
        if override is not None and svc.kind in SWITCHABLE_KINDS:
            choice = override
        if choice == "auto":
            if engine is None:
                engine = docker_provider.engine_available()
            choice = "docker" if engine or svc.kind not in SWITCHABLE_KINDS else "native"
            if not engine and choice == "native":
                report(svc.name, "note", "docker engine not answering; using native")
        resolved[svc.name] = choice
    return resolved


def _selected(stack: Stack, only: Sequence[str] | None) -> list[Service]:
    check_names(stack, only)
    return list(stack.services if not only else [stack.service(n) for n in only])


def _to_start(
    stack: Stack, only: Sequence[str] | None, profiles: Collection[str] = ()
) -> list[Service]:
    """``only`` (a named service starts whatever its profiles), else the enabled services
    (``profiles``: more active ones for this start); dependencies come along either way."""
    active = dataclasses.replace(stack, profiles=stack.profiles | set(profiles))
    named = [s.name for s in _selected(stack, only) if only or active.enabled(s)]
    return graph.with_dependencies(stack.services, named)


# --------------------------------------------------------------------------- public operations


def start(
    stack: Stack,
    *,
    only: Sequence[str] | None = None,
    wait: bool = True,
    timeout: float | None = None,
    report: Reporter = _quiet,
    lock_timeout: float = 300.0,
    provider: str | None = None,
    profiles: Collection[str] = (),
) -> Report:
    """Start what is missing of ``only`` (default: the enabled services) and its dependencies.

    ``provider`` overrides the manifest's for postgres/redis services (``--provider``);
    ``profiles`` are activated for this start only (``--profile``): the env contract keeps
    following the configured profiles and what runs.
    """
    t0 = time.monotonic()
    selected = _to_start(stack, only, profiles)
    paths = InstancePaths(stack.state_dir)
    # what runs after this start: the services it starts, and those already running
    contract = envfile.contract(stack, {*(s.name for s in selected), *running_services(stack)})
    providers = resolve_providers(selected, provider, report)
    if "docker" in providers.values():
        docker_provider.require_engine()  # one clear message, before anything has started
    with _locked(paths, lock_timeout):
        run = _StartRun(stack, paths, NativeProvider(contract), report, timeout, wait, providers)
        try:
            errors = run.execute(selected)
        except BaseException:  # Ctrl-C: leave nothing behind, then let it propagate
            _rollback(stack, paths, run, report)
            raise
        if errors:
            _rollback(stack, paths, run, report)
        results = tuple(_start_result(s, run, errors) for s in selected)
        teardown.write_runtime(stack, paths)
    return Report(results, time.monotonic() - t0)


def _rollback(stack: Stack, paths: InstancePaths, run: _StartRun, report: Reporter) -> None:
    marked = supervisor.scan()
    for name in reversed(run.started_order):
        report(name, "rollback", "stopping what this start started")
        teardown.stop_one(stack.service(name), paths, marked, stack)
    teardown.down_docker_project(stack, False, report)  # a network compose made for it


def _start_result(svc: Service, run: _StartRun, errors: dict[str, RealstackError]) -> ServiceResult:
    if svc.name in errors:
        return ServiceResult(svc.name, "failed", port=svc.port, error=errors[svc.name])
    running = run.running.get(svc.name)
    if running is None:
        return ServiceResult(svc.name, "cancelled", port=svc.port)
    if errors and not running.reused:
        return ServiceResult(svc.name, "rolled-back", port=svc.port)
    return ServiceResult(
        svc.name,
        "reused" if running.reused else "started",
        running.proc.pid,
        svc.port,
        run.ready_seconds.get(svc.name, 0.0),
    )


def stop(
    stack: Stack,
    *,
    only: Sequence[str] | None = None,
    purge: bool = False,
    report: Reporter = _quiet,
    lock_timeout: float = 300.0,
) -> Report:
    """Stop what realstack started (dependents first); keep data unless ``purge``."""
    t0 = time.monotonic()
    selected = _selected(stack, only)
    paths = InstancePaths(stack.state_dir)
    results: list[ServiceResult] = []
    with _locked(paths, lock_timeout):
        marked = supervisor.scan()
        for svc in graph.dependents_first(selected):
            report(svc.name, "stopping", "")
            result = teardown.stop_one(svc, paths, marked, stack, purge)
            results.append(result)
            report(svc.name, result.action, f"in {result.seconds:.2f}s" if result.pid else "")
            if purge and result.action != "failed":
                for what in teardown.purge(svc, paths, stack):
                    report(svc.name, "purged", what)
        # The project's network goes once its last container has (also after `--only` stops
        # of every service, as nox sessions do); volumes of services not stopped never do.
        teardown.down_docker_project(stack, purge and only is None, report)
        teardown.write_runtime(stack, paths)
    return Report(tuple(results), time.monotonic() - t0)

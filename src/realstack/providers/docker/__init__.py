"""The docker provider: postgres, redis and clickhouse as services of the project's compose file.

A start reads the compose model once, then creates and starts each container through the
engine API, in parallel (:mod:`.direct`); a service using compose features it does not
translate is started by ``compose up`` instead (:mod:`.spec`). Ready means realstack's own
protocol probe answers, not the container's health check (which polls at its own interval).
Handles and logs are read through the engine (:mod:`.handle`); a deleted checkout's
containers are found by their labels alone (:mod:`.prune`).

A container is ours only if this instance's record names it by id and it still carries this
instance's compose project and service labels; a labelled container without such a record is
an orphan (ours to remove). No host pid is borrowed, so a remote engine works the same.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from realstack import ports, probes
from realstack.errors import ProviderFailed, ProviderUnavailable, ServiceExited
from realstack.model import SWITCHABLE_KINDS, Service, Stack
from realstack.providers import Absent, Found, Orphan, Ours, Stale
from realstack.providers import engine_address as address
from realstack.providers.docker import compose, direct, engine, resolved, spec
from realstack.providers.docker.compose import project_name
from realstack.providers.docker.engine import (
    INSTANCE_LABEL,
    PROJECT_LABEL,
    REALSTACK_SERVICE_LABEL,
    SERVICE_LABEL,
    engine_available,
    require_engine,
)
from realstack.providers.docker.handle import ContainerHandle, ContainerLogs, is_running, state_of
from realstack.providers.docker.prune import prune_instance
from realstack.records import ContainerRecord, Record, Settings
from realstack.state import InstancePaths, write_atomic
from realstack.waiting import Check

__all__ = [
    "INSTANCE_LABEL",
    "PROJECT_LABEL",
    "SERVICE_LABEL",
    "ContainerHandle",
    "ContainerLogs",
    "DockerProvider",
    "engine_available",
    "project_name",
    "prune_instance",
    "require_engine",
]


class DockerProvider:
    """Containers of this instance's compose project."""

    name = "docker"

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.project = project_name(stack)
        self._model: dict[str, Any] | None = None
        self._model_lock = threading.Lock()
        # One listing of the project's containers answers `find` for every service of an
        # operation (as the native provider's process scan does); a start or stop drops it.
        self._listing: list[Any] | None = None
        self._listing_lock = threading.Lock()

    def model(self) -> dict[str, Any]:
        """The resolved compose model, read once per operation (kept between them)."""
        with self._model_lock:
            if self._model is None:
                self._model = resolved.model(self.stack)
            return self._model

    def preflight(self, services: Sequence[Service]) -> None:
        for svc in services:
            if svc.settings:
                raise ProviderUnavailable(
                    f"{svc.name}: server settings ({', '.join(svc.settings)}) apply to the "
                    "native provider; under docker the compose file's command sets them "
                    f'(e.g. command: ["postgres", "-c", "name=value"]). Move them '
                    "there, or run this service with --provider native",
                    provider=self.name,
                    service=svc.name,
                )
        # one clear message, before anything has started
        require_engine(native_too=any(s.kind in SWITCHABLE_KINDS for s in services))
        model = self.model()  # compose works and the file is valid, also before anything starts
        host = address.engine_host()
        if not address.is_local(host):
            for svc in services:
                problem = spec.remote_problem(model, svc.compose_name)
                if problem:
                    raise ProviderUnavailable(
                        f"{svc.name}: the engine at {address.docker_host()} is another machine: "
                        f"{problem}",
                        provider=self.name,
                        service=svc.name,
                    )

    def _ours(self, container: Any, svc: Service) -> bool:
        labels = container.labels
        return bool(
            labels.get(PROJECT_LABEL) == self.project
            and labels.get(SERVICE_LABEL) == svc.compose_name
        )

    def _listed(self, api: Any) -> list[Any]:
        with self._listing_lock:
            if self._listing is None:
                self._listing = engine.project_containers(api, self.project)
            return self._listing

    def _containers(self, api: Any, svc: Service) -> list[Any]:
        return [c for c in self._listed(api) if c.labels.get(SERVICE_LABEL) == svc.compose_name]

    def _forget_listing(self) -> None:
        with self._listing_lock:
            self._listing = None

    def find(self, svc: Service, record: Record | None) -> Found:
        with engine.client() as api:
            if isinstance(record, ContainerRecord) and record.project == self.project:
                container = engine.by_id(api, record.container_id)
                if container is not None and self._ours(container, svc) and is_running(container):
                    return Ours(ContainerHandle(record, self.logs(svc)))
            found = self._containers(api, svc)
            if found:
                status = state_of(found[0]).get("Status", "unknown")
                return Orphan(f"container {found[0].short_id} ({status}) without a live record")
        return Stale(record) if record is not None else Absent()

    def start(self, svc: Service, env: dict[str, str], settings: Settings) -> ContainerHandle:
        logs = self.logs(svc)
        self._mark_used()
        try:
            wanted = spec.translate(
                self.model(),
                self.project,
                self.stack.compose_path,
                svc.compose_name,
                marks={INSTANCE_LABEL: self.stack.instance_id, REALSTACK_SERVICE_LABEL: svc.name},
            )
        except spec.Unsupported:
            wanted = None  # compose starts what is not translated here, as the file says
        if wanted is not None and svc.port not in wanted.published:
            raise self._port_mismatch(svc, wanted.published)
        try:
            with engine.client() as api:
                started = direct.start(api, wanted, self.project) if wanted else None
                container = engine.by_id(api, started) if started else self._compose_up(api, svc)
        finally:
            self._forget_listing()  # after the start: a listing taken meanwhile must not hide it
        if container is None or not is_running(container):
            code = state_of(container).get("ExitCode") if container else None
            raise ServiceExited(svc.name, code, logs.tail(20), logs.source)
        record = ContainerRecord(
            service=svc.name,
            instance=self.stack.instance_id,
            provider=self.name,
            container_id=str(container.id),
            project=self.project,
            compose_service=svc.compose_name,
            port=svc.port,
            settings=settings,
        )
        return ContainerHandle(record, logs)

    def _mark_used(self) -> None:
        """Before any container exists: from now on stop and status look on the engine for
        this instance's containers also without a record (see ``InstancePaths.engine_used``)."""
        paths = InstancePaths(self.stack.state_dir)
        paths.ensure()
        if not paths.engine_used.exists():
            write_atomic(paths.engine_used, f"containers of compose project {self.project}\n")

    def _compose_up(self, api: Any, svc: Service) -> Any:
        with direct.SHARED:
            compose.run(self.stack, "up", "-d", "--no-deps", svc.compose_name)
        found = engine.service_containers(api, self.project, svc.compose_name)
        if not found:
            raise ProviderFailed(
                f"{svc.name}: compose started no container {svc.compose_name!r}",
                provider=self.name,
                service=svc.name,
            )
        ports = found[0].attrs.get("NetworkSettings", {}).get("Ports") or {}
        published = {int(b["HostPort"]) for bs in ports.values() for b in bs or () if b}
        if is_running(found[0]) and svc.port not in published:  # an exited one: its log says why
            self.stop(svc, Orphan("port mismatch"))
            raise self._port_mismatch(svc, published)
        return found[0]

    def _port_mismatch(self, svc: Service, published: set[int] | frozenset[int]) -> ProviderFailed:
        return ProviderFailed(
            f"{svc.name}: the compose service {svc.compose_name!r} publishes "
            f"{sorted(published) or 'no port'}, the manifest expects {svc.port}; use the "
            "same variable in both (envs/<env>.env)",
            provider=self.name,
            service=svc.name,
        )

    def probe(self, svc: Service) -> Check:
        return probes.check_for(svc)

    def occupant(self, svc: Service) -> str | None:
        """Who holds the port where the engine publishes it; a process is named only when
        that is this machine (psutil sees local sockets only)."""
        if address.is_local(address.engine_host()):
            return ports.occupant(svc.host, svc.port)
        return "" if ports.answers(svc.host, svc.port) else None

    def stop(self, svc: Service, found: Ours | Orphan) -> None:
        """Stop and remove the service's containers of this project (what ``compose rm -s -f``
        selects, by label), with their own stop signal and grace period; no pid is ever
        signalled directly, anonymous volumes stay."""
        try:
            with engine.client() as api:
                for container in engine.service_containers(api, self.project, svc.compose_name):
                    engine.stop_and_remove(container)
        finally:
            self._forget_listing()

    def purge(self, svc: Service) -> list[str]:
        if not self.stack.compose_path.is_file() or not engine_available():
            return []
        names = compose.volume_names(self.model(), svc.compose_name)
        with engine.client() as api:
            return engine.remove_volumes(api, names, self.project)

    def finish(self, services: Sequence[Service], *, purge: bool) -> list[str]:
        """Once no container of the project is left: its networks (and, purging, volumes),
        found by this project's label, as ``compose down`` would remove them."""
        if not engine_available():
            return []
        with engine.client() as api:
            containers, networks, volumes = engine.project_resources(api, self.project)
            if containers or not (networks or (purge and volumes)):
                return []  # a container still runs (not ours to remove by accident), or none left
            for network in networks:
                network.remove()
            for volume in volumes if purge else ():
                volume.remove(force=True)
        return [self.project + (" (volumes)" if purge else "")]

    def logs(self, svc: Service) -> ContainerLogs:
        return ContainerLogs(self.stack, svc.compose_name)

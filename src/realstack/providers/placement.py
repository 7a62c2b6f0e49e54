"""Which provider runs, stops and inspects each service: decided here, once per operation.

``auto`` means docker when an engine answers (one ping per operation), else native; the
``--provider`` override applies to the kinds that run both ways. Stop and status ask the
provider a record names, or, without a record, every provider the service could have run
under, so an orphan is found wherever it is (the engine only for an instance that ever
created a container: :attr:`~realstack.state.InstancePaths.engine_used`).

The two questions asked of a provider outside an operation are answered here too, so nothing
outside :mod:`realstack.providers` imports a concrete provider: where a container's ports are
published (:func:`published_host`, for the manifest) and what a deleted checkout's instance
left on the engine (:func:`prune_gone`, for salvage).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from realstack.errors import ConfigError
from realstack.model import CONTAINER_KINDS, PROVIDERS, SWITCHABLE_KINDS, Service, Stack
from realstack.providers import Provider
from realstack.records import Record
from realstack.results import Event, Progress, quiet
from realstack.state import InstancePaths


def _default_factory(stack: Stack) -> Callable[[str], Provider]:
    def make(name: str) -> Provider:
        # Imported on demand: a native-only run never loads the docker package.
        if name == "docker":
            from realstack.providers.docker import DockerProvider  # noqa: PLC0415

            return DockerProvider(stack)
        from realstack.providers.native import NativeProvider  # noqa: PLC0415

        return NativeProvider(stack)

    return make


def _engine_available() -> bool:
    from realstack.providers.docker.engine import engine_available  # noqa: PLC0415

    return engine_available()


def published_host(default: str) -> str:
    """Where a container's published ports are reached from here: the engine's machine
    (``DOCKER_HOST`` / the docker context), or ``default`` when the engine is local. Read
    without the SDK: the manifest asks it on every load of a stack that may use docker."""
    from realstack.providers.engine_address import published_host as engine_host  # noqa: PLC0415

    return engine_host(default)


def prune_gone(stack: Stack) -> list[str]:
    """Remove what a gone instance (its checkout and records deleted) left that is found by
    its marks alone, no record or service name needed: its containers, by their labels on
    the engine (none when no engine answers). The services removed. Its processes need no
    sweep here: the native provider's ``find`` proves them per service by their marks."""
    from realstack.providers.docker import prune_instance  # noqa: PLC0415

    return prune_instance(stack)


class Placement:
    """The providers of one stack for one operation (start, stop, status …)."""

    def __init__(
        self,
        stack: Stack,
        override: str | None = None,
        *,
        factory: Callable[[str], Provider] | None = None,
        engine: Callable[[], bool] = _engine_available,
    ) -> None:
        if override is not None and override not in PROVIDERS:
            raise ConfigError(
                "provider", f"expected one of {', '.join(PROVIDERS)}; got {override!r}"
            )
        self.stack = stack
        self.override = override
        self._factory = factory or _default_factory(stack)
        self._engine_probe = engine
        self._engine: bool | None = None
        self._made: dict[str, Provider] = {}
        self._lock = threading.Lock()  # status asks for its rows from threads: one of each

    @classmethod
    def single(cls, stack: Stack, provider: Provider) -> Placement:
        """Every service on ``provider`` (unit tests: the fake)."""
        return cls(stack, factory=lambda _name: provider, engine=lambda: False)

    def get(self, name: str) -> Provider:
        with self._lock:
            if name not in self._made:
                self._made[name] = self._factory(name)
            return self._made[name]

    def used(self) -> list[Provider]:
        """The providers this operation has asked something."""
        return list({id(p): p for p in self._made.values()}.values())

    def engine(self) -> bool:
        with self._lock:
            if self._engine is None:
                self._engine = self._engine_probe()
            return self._engine

    def _engine_used(self) -> bool:
        """Whether this instance ever created a container (a stat; asked each time: a start
        creates the mark before its first container)."""
        return InstancePaths(self.stack.state_dir).engine_used.exists()

    def choose(self, svc: Service, progress: Progress = quiet) -> str:
        """``docker`` or ``native`` for a start of ``svc``."""
        choice: str = svc.provider
        if self.override is not None and svc.kind in SWITCHABLE_KINDS:
            choice = self.override
        if choice == "auto":
            if svc.kind not in SWITCHABLE_KINDS or self.engine():
                return "docker"
            progress(svc.name, Event.NOTE, "docker engine not answering; using native")
            return "native"
        return choice

    def for_start(self, svc: Service, progress: Progress = quiet) -> Provider:
        return self.get(self.choose(svc, progress))

    def candidates(self, svc: Service, record: Record | None) -> list[Provider]:
        """Who may hold ``svc``: the provider of its record, else each it could run under."""
        if record is not None:
            return [self.get(record.provider)]
        names = [] if svc.kind == "clickhouse" else ["native"]
        if svc.kind in CONTAINER_KINDS and self._engine_used() and self.engine():
            names.append("docker")
        return [self.get(n) for n in names]

"""The validated stack: frozen dataclasses built once by :mod:`realstack.manifest`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

ServiceKind = Literal["postgres", "redis", "clickhouse", "process", "task"]
ProbeKind = Literal["tcp", "http", "postgres", "redis", "clickhouse", "command"]
Condition = Literal["started", "healthy", "completed"]
Rerun = Literal["on-change", "always"]
ProviderName = Literal["auto", "docker", "native"]

SERVICE_KINDS: tuple[ServiceKind, ...] = ("postgres", "redis", "clickhouse", "process", "task")
# Kinds that run a command of the manifest's (natively, with the env contract): an app process
# that keeps running, or a one-shot task (migrations, seeders) that must exit 0.
COMMAND_KINDS: tuple[ServiceKind, ...] = ("process", "task")
PROBE_KINDS: tuple[ProbeKind, ...] = ("tcp", "http", "postgres", "redis", "clickhouse", "command")
CONDITIONS: tuple[Condition, ...] = ("started", "healthy", "completed")
RERUNS: tuple[Rerun, ...] = ("on-change", "always")
PROVIDERS: tuple[ProviderName, ...] = ("auto", "docker", "native")
# Kinds that run both ways, so ``--provider`` applies to them; process is always native and
# clickhouse always docker (no native provider).
SWITCHABLE_KINDS: tuple[ServiceKind, ...] = ("postgres", "redis")
CONTAINER_KINDS: tuple[ServiceKind, ...] = ("postgres", "redis", "clickhouse")
DEFAULT_COMPOSE_FILE = "docker-compose.test.yml"


@dataclass(frozen=True)
class Probe:
    """How readiness is checked; data only, turned into a check by :mod:`realstack.probes`."""

    kind: ProbeKind
    path: str = "/"
    status: int = 200
    command: tuple[str, ...] = ()
    attempt_timeout: float = 1.0

    def describe(self) -> str:
        if self.kind == "http":
            return f"http GET {self.path} -> {self.status}"
        if self.kind == "command":
            return "command " + " ".join(self.command)
        return {
            "tcp": "tcp connect",
            "postgres": "postgres SELECT 1",
            "redis": "redis PING",
            "clickhouse": "clickhouse HTTP SELECT 1",
        }[self.kind]


@dataclass(frozen=True)
class Dependency:
    service: str
    condition: Condition = "healthy"


@dataclass(frozen=True)
class Service:
    """One service of the stack. Kind-specific fields are ignored by other kinds."""

    name: str
    kind: ServiceKind
    port: int
    probe: Probe
    host: str = "127.0.0.1"
    depends_on: tuple[Dependency, ...] = ()
    startup_timeout: float = 30.0
    stop_timeout: float = 5.0
    command: tuple[str, ...] = ()
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    exports: Mapping[str, str] = field(default_factory=dict)
    # postgres / redis / clickhouse
    user: str = ""
    password: str = ""
    database: str = ""
    durable: bool = True
    bin_dir: Path | None = None
    # server settings: PostgreSQL ``-c name=value``, Redis/Valkey ``--name value``
    settings: Mapping[str, str] = field(default_factory=dict)
    # where it runs: kind "process" is always native; "auto" = docker if the engine answers
    provider: ProviderName = "native"
    compose_service: str = ""  # the compose file's service name; "" means ``name``
    # started only when one of these is active (or the service is named); () means always
    profiles: tuple[str, ...] = ()
    # process: what it takes from the caller's environment beyond the documented base;
    # ("*",) for everything (``inherit_env = true``)
    inherit_env: tuple[str, ...] = ()
    # task: it runs again when these files (globs under the project root) change, its
    # command/env change, or a service it depends on is purged; "always": on every start
    inputs: tuple[str, ...] = ()
    rerun: Rerun = "on-change"
    # a deployed env's service: the URL its env gives it ("" there: not offered); realstack
    # starts, stops and flushes nothing of it, it only probes it
    external: str = ""

    @property
    def is_task(self) -> bool:
        return self.kind == "task"

    @property
    def compose_name(self) -> str:
        return self.compose_service or self.name

    @property
    def url_host(self) -> str:
        """Host used in URLs: the seeds' ``localhost`` for loopback binds, an IPv6 address in
        brackets (``[::1]``)."""
        if self.host in ("127.0.0.1", "localhost"):
            return "localhost"
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def url(self) -> str:
        """The service's canonical URL (what its default exports point at)."""
        if self.external:
            return self.external
        if self.kind == "postgres":
            auth = quote(self.user, safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            return f"postgresql://{auth}@{self.url_host}:{self.port}/{self.database}"
        if self.kind == "redis":
            return f"redis://{self.url_host}:{self.port}/{self.database or 0}"
        return f"http://{self.url_host}:{self.port}"


@dataclass(frozen=True)
class Stack:
    """A whole validated manifest for one env and one instance."""

    root: Path
    env: str
    instance: str
    state_dir: Path
    services: tuple[Service, ...]
    compose_file: Path | None = None  # None: ``root / DEFAULT_COMPOSE_FILE``
    profiles: frozenset[str] = frozenset()  # active: REALSTACK_PROFILES, ``--profile``
    # what ``${…}`` resolved against (env file + environment): compose interpolates its file
    # with the same values, so containers and manifest agree. May hold secrets: not in repr.
    variables: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # a shared, deployed stack (REALSTACK_DEPLOYED in its env): every service is external
    deployed: bool = False
    # what it was built from (the manifest table; the variables before port leases), so a
    # start that leases other ports can build it again with them
    table: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    given: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def instance_id(self) -> str:
        """Who this stack is: (canonical project root, env, instance name, state dir).

        It goes into every record, process marker and compose project, so a copied checkout,
        another env or another state dir never takes this instance's processes for its own.
        """
        key = "\0".join((str(self.root), self.env, self.instance, str(self.state_dir)))
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def enabled(self, svc: Service) -> bool:
        """Whether a start without ``--only`` starts ``svc`` (no profile, or an active one)."""
        return not svc.profiles or not self.profiles.isdisjoint(svc.profiles)

    @property
    def compose_path(self) -> Path:
        return self.compose_file or self.root / DEFAULT_COMPOSE_FILE

    def service(self, name: str) -> Service:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)

"""A container of this instance as readiness, status and reports see it: its handle (has it
exited?) and its log, both read through the engine, never through a host pid."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

from realstack.errors import ProviderFailed
from realstack.model import Stack
from realstack.providers import Exited
from realstack.providers.docker import compose, engine
from realstack.providers.docker.compose import project_name
from realstack.records import ContainerRecord


@dataclass(frozen=True)
class ContainerLogs:
    """The container's own log (stdout + stderr), read through the engine."""

    stack: Stack
    compose_service: str

    @property
    def source(self) -> str:
        return f"docker logs of {project_name(self.stack)}/{self.compose_service}"

    def mark(self) -> float:
        return time.time()  # the engine's `since` (same clock: a local or NTP-synced engine)

    def tail(self, lines: int, since: float | None = None) -> list[str]:
        if lines <= 0:
            return []
        try:
            with engine.client() as api:
                found = engine.service_containers(
                    api, project_name(self.stack), self.compose_service
                )
                if not found:
                    return []
                options: dict[str, Any] = {"tail": lines}
                if since:
                    options["since"] = float(since)
                raw = cast(bytes, found[0].logs(**options))
        except ProviderFailed:
            return []  # a log tail decorates a report; it must not replace it
        return raw.decode(errors="replace").splitlines()[-lines:]

    def follow(self, lines: int) -> None:
        compose.follow_logs(self.stack, self.compose_service, lines)


def state_of(container: Any) -> dict[str, Any]:
    """The engine's ``State`` of ``container`` (as last inspected)."""
    return cast(dict[str, Any], container.attrs.get("State") or {})


def is_running(container: Any) -> bool:
    state = state_of(container)
    return bool(state.get("Running")) and state.get("Status") not in ("exited", "dead")


@dataclass(frozen=True)
class ContainerHandle:
    record: ContainerRecord
    logs: ContainerLogs

    def _container(self) -> Any | None:
        with engine.client() as api:
            return engine.by_id(api, self.record.container_id)  # get() inspects: current

    def exited(self) -> Exited | None:
        container = self._container()
        if container is None:
            return Exited(None)
        return None if is_running(container) else Exited(state_of(container).get("ExitCode"))

    def listening(self) -> list[tuple[str, int]]:
        return []  # published ports are the compose file's: the engine maps them

    def not_ready(self) -> str | None:
        return None  # the protocol probe decides: it answers before the health check runs

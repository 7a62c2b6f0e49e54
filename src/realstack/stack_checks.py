"""Checks across the services of one stack: dependencies name services that exist (once,
not themselves), with a condition their kind can meet, and no two servers share a port."""

from __future__ import annotations

from realstack.errors import ConfigError
from realstack.fields import nearest
from realstack.model import Dependency, Service
from realstack.project import ROOT


def _check_condition(dep: Dependency, target: Service, where: str) -> None:
    """``completed`` is what a task dependency means (a default ``healthy`` reads the same);
    ``started`` on a task would race it, ``completed`` on a server never happens."""
    if target.is_task and dep.condition == "started":
        raise ConfigError(
            f"{where}.condition",
            f"{dep.service!r} is a task: a dependent waits until it completed (exit 0); "
            'use condition = "completed"',
        )
    if not target.is_task and dep.condition == "completed":
        raise ConfigError(
            f"{where}.condition",
            f"{dep.service!r} is a {target.kind} service, which never completes: use "
            '"healthy" or "started"',
        )


def check_references(services: tuple[Service, ...]) -> None:
    by_name = {s.name: s for s in services}
    names = set(by_name)
    for svc in services:
        seen: set[str] = set()
        for i, dep in enumerate(svc.depends_on):
            where = f"{ROOT}.services.{svc.name}.depends_on[{i}]"
            if dep.service not in names:
                raise ConfigError(
                    where, f"unknown service {dep.service!r}" + nearest(dep.service, names)
                )
            if dep.service == svc.name:
                raise ConfigError(where, "a service cannot depend on itself")
            if dep.service in seen:
                raise ConfigError(where, f"{dep.service!r} is listed twice")
            seen.add(dep.service)
            _check_condition(dep, by_name[dep.service], where)
    ports: dict[tuple[str, int], str] = {}
    for svc in services:
        if svc.is_task or svc.port == 0:  # a task, or a deployed env's service: no local port
            continue
        other = ports.setdefault((svc.host, svc.port), svc.name)
        if other != svc.name:
            raise ConfigError(
                f"{ROOT}.services.{svc.name}.port", f"port {svc.port} is also used by {other!r}"
            )

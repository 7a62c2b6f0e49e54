"""What a start will do, decided under the instance lock: which services (``--only``,
profiles, dependencies), on which provider, with which environment and settings.

The settings are what a running service is compared with before it is reused: a changed port,
command, provider or environment is drift, never silently reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from realstack import envfile, graph
from realstack.errors import ConfigError
from realstack.fields import nearest
from realstack.model import COMMAND_KINDS, Service, Stack
from realstack.providers import Provider
from realstack.providers.placement import Placement
from realstack.records import Settings
from realstack.results import Progress, quiet

_HIDDEN = ("env", "password")  # compared by digest, never shown


def check_names(stack: Stack, names: Sequence[str] | None, what: str = "only") -> None:
    """A usage error for any name that is not a service of ``stack``."""
    for name in names or ():
        if name not in stack.names:
            known = ", ".join(stack.names)
            hint = nearest(name, stack.names)
            raise ConfigError(what, f"unknown service {name!r} (known: {known}){hint}")


def selected(stack: Stack, only: Sequence[str] | None) -> list[Service]:
    check_names(stack, only)
    return list(stack.services if not only else [stack.service(n) for n in only])


def to_start(
    stack: Stack, only: Sequence[str] | None, profiles: Collection[str] = ()
) -> list[Service]:
    """``only`` (a named service starts whatever its profiles), else the enabled services
    (``profiles``: more active ones for this start); dependencies come along either way."""
    active = dataclasses.replace(stack, profiles=stack.profiles | set(profiles))
    named = [s.name for s in selected(stack, only) if only or active.enabled(s)]
    return graph.with_dependencies(stack.services, named)


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def settings_of(stack: Stack, svc: Service, provider: str) -> Settings:
    """What ``svc`` runs with, as far as a restart would change it.

    A process's environment counts through its own ``env`` and its dependencies' exports (a
    moved database must restart its app), not through which unrelated services run. The
    default ``{python}`` counts as itself, not as a path: a stack started from the shell is
    reused by ``nox -s e2e`` (a venv's interpreter) and the other way round, never restarted
    for it; a ``python`` the manifest names is compared as written.
    """
    deps = [s for s in graph.with_dependencies(stack.services, [svc.name]) if s is not svc]
    command = svc.command
    if stack.table.get("python") is None:  # ``{python}`` is whichever realstack runs on
        command = tuple("{python}" if part == sys.executable else part for part in command)
    exported = {k: v for dep in deps for k, v in dep.exports.items()}
    env = {**exported, **svc.env} if svc.kind in COMMAND_KINDS else {}
    return {
        "provider": provider,
        "host": svc.host,
        "port": str(svc.port),
        "command": " ".join(command),
        "cwd": str(svc.cwd or ""),
        "user": svc.user,
        "database": svc.database,
        "durable": str(svc.durable),
        "password": _digest([stack.instance_id, svc.password]),
        "env": _digest([stack.instance_id, env]),
        "inherit_env": ",".join(svc.inherit_env),
        "settings": " ".join(f"{k}={v}" for k, v in sorted(svc.settings.items())),
    }


def drift(old: Settings, new: Settings) -> str:
    """How ``old`` differs from ``new``, for humans ("" when they agree); secrets by name only."""
    changes = []
    for key in new:
        before, after = old.get(key, ""), new[key]  # a key newer than the record: unset
        if before == after:
            continue
        if key in _HIDDEN:
            changes.append(f"{key} changed")
        else:
            changes.append(f"{key} {before or '(unset)'} → {after or '(unset)'}")
    return ", ".join(changes)


@dataclass(frozen=True)
class Plan:
    stack: Stack
    services: tuple[Service, ...]
    providers: dict[str, Provider]
    env: dict[str, dict[str, str]]  # what each process service gets (contract + its env)
    settings: dict[str, Settings]
    rerun: frozenset[str] = frozenset()  # tasks that run even if their last run is current


def make(
    stack: Stack,
    placement: Placement,
    running: Collection[str],
    *,
    only: Sequence[str] | None = None,
    profiles: Collection[str] = (),
    progress: Progress = quiet,
    rerun: Collection[str] = (),
) -> Plan:
    """The plan of one start; ``running``: what already runs (it stays in the contract);
    ``rerun``: tasks to run again though nothing changed (``services.restart <task>``)."""
    services = to_start(stack, only, profiles)
    providers = {s.name: placement.for_start(s, progress) for s in services}
    contract = envfile.contract(stack, {*(s.name for s in services), *running})
    return Plan(
        stack=stack,
        services=tuple(services),
        providers=providers,
        env={s.name: {**contract, **s.env} for s in services},
        settings={s.name: settings_of(stack, s, providers[s.name].name) for s in services},
        rerun=frozenset(rerun),
    )

"""The parts of a service table that are tables or lists of their own: probe, dependencies,
profiles, inherited variables, server settings and a task's inputs. Each validates its value
and names the field path of what is wrong."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import cast

from realstack.errors import ConfigError
from realstack.fields import (
    ARGV,
    choice,
    fmt,
    integer,
    key,
    known_keys,
    port_number,
    seconds,
    shown,
    str_list,
    text,
)
from realstack.model import (
    CONDITIONS,
    PROBE_KINDS,
    Condition,
    Dependency,
    Probe,
    ProbeKind,
    Service,
    ServiceKind,
)

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PROBE_KEYS = frozenset(f.name for f in dataclasses.fields(Probe))
DEPENDENCY_KEYS = frozenset(f.name for f in dataclasses.fields(Dependency))
_DEFAULT_PROBE: dict[ServiceKind, ProbeKind] = {
    "postgres": "postgres",
    "redis": "redis",
    "clickhouse": "clickhouse",
    "process": "tcp",
    "task": "tcp",  # never used: a task is done when it exits 0
}


def parse_profiles(value: str, path: str = "profiles") -> frozenset[str]:
    """``analytics,search`` (commas or spaces) as a set of valid profile names."""
    names = frozenset(n for n in re.split(r"[,\s]+", value) if n)
    for name in sorted(names):
        if not NAME.fullmatch(name):
            raise ConfigError(path, f"invalid profile name {shown(name)}")
    return names


def known_profiles(services: Iterable[Service], asked: frozenset[str]) -> frozenset[str]:
    """``asked`` (``--profile``), each a profile some service has: a typo would start
    nothing more, and say nothing."""
    known = {name for svc in services for name in svc.profiles}
    unknown = sorted(asked - known)
    if unknown:
        raise ConfigError(
            "profile",
            f"unknown profile {unknown[0]!r}; the manifest's: {', '.join(sorted(known)) or 'none'}",
        )
    return asked


_SETTING = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")


def server_settings(raw: object, kind: ServiceKind, path: str) -> dict[str, str]:
    """Server settings: a table of names (``max_prepared_transactions``,
    ``enable-debug-command``) to values; booleans as the servers spell them."""
    if raw is None:
        return {}
    if kind not in ("postgres", "redis"):
        raise ConfigError(path, f"only postgres and redis servers take settings, not {kind!r}")
    if not isinstance(raw, dict):
        raise ConfigError(path, "expected a table of setting = value")
    values = {}
    for name, value in raw.items():
        where = key(path, str(name))
        if not _SETTING.fullmatch(str(name)):
            raise ConfigError(where, "not a setting name")
        if isinstance(value, bool):
            on, off = ("on", "off") if kind == "postgres" else ("yes", "no")
            values[str(name)] = on if value else off
        elif isinstance(value, str | int | float):
            text_value = str(value)
            if "\n" in text_value or "\0" in text_value:
                raise ConfigError(where, "a setting value is one line")
            values[str(name)] = text_value
        else:
            raise ConfigError(where, "expected a string, number or boolean")
    return values


def input_globs(raw: object, path: str) -> tuple[str, ...]:
    """Glob patterns under the project root (``alembic/versions/*.py``, ``migrations/**``)."""
    patterns = str_list(raw, path, "a list of glob patterns (migrations/*.sql)")
    for i, pattern in enumerate(patterns):
        if not pattern or pattern.startswith("/") or ".." in Path(pattern).parts:
            raise ConfigError(
                f"{path}[{i}]", f"a glob pattern under the project root, got {shown(pattern)}"
            )
        try:  # pathlib checks the pattern when it is used; say so now, not mid-start
            next(Path("/nonexistent-realstack-root").glob(pattern), None)
        except ValueError as exc:
            raise ConfigError(f"{path}[{i}]", f"not a glob pattern: {exc}") from None
    return tuple(patterns)


def probe_of(raw: object, kind: ServiceKind, fields: Mapping[str, str], path: str) -> Probe:
    if raw is None:
        return Probe(kind=_DEFAULT_PROBE[kind])
    if isinstance(raw, str):
        raw = {"kind": raw}
    if not isinstance(raw, dict):
        raise ConfigError(path, "must be a probe kind or a table")
    known_keys(raw, PROBE_KEYS, path)
    pkind = cast(ProbeKind, choice(raw.get("kind"), PROBE_KINDS, f"{path}.kind"))
    probe_path = fmt(text(raw.get("path", "/"), f"{path}.path"), fields, f"{path}.path")
    if not probe_path.startswith("/"):
        raise ConfigError(f"{path}.path", "must start with '/'")
    status = integer(raw.get("status", 200), f"{path}.status")
    if not 100 <= status <= 599:
        raise ConfigError(f"{path}.status", f"{status} is not an HTTP status")
    argv = tuple(
        fmt(a, fields, f"{path}.command[{i}]")
        for i, a in enumerate(str_list(raw.get("command", []), f"{path}.command", ARGV))
    )
    if pkind == "command" and not argv:
        raise ConfigError(f"{path}.command", "required for a command probe")
    return Probe(
        kind=pkind,
        path=probe_path,
        status=status,
        command=argv,
        attempt_timeout=seconds(raw.get("attempt_timeout", 1.0), f"{path}.attempt_timeout"),
    )


def inherit_env_of(raw: object, path: str) -> tuple[str, ...]:
    """``true`` (the whole caller's environment), ``false``, or a list of variable names."""
    if isinstance(raw, bool):
        return ("*",) if raw else ()
    names = str_list(raw, path, "true, false or a list of variable names")
    for i, name in enumerate(names):
        if not VAR_NAME.fullmatch(name):
            raise ConfigError(f"{path}[{i}]", f"not a variable name: {shown(name)}")
    return tuple(names)


def profiles_of(raw: object, path: str) -> tuple[str, ...]:
    """A list of names (each entry one name), or one comma/space separated string."""
    if isinstance(raw, str):
        return tuple(sorted(parse_profiles(raw, path)))
    names = str_list(raw, path)
    for i, name in enumerate(names):
        if not NAME.fullmatch(name):
            raise ConfigError(f"{path}[{i}]", f"invalid profile name {shown(name)}")
    return tuple(sorted(set(names)))


def dependencies_of(raw: object, path: str) -> tuple[Dependency, ...]:
    if not isinstance(raw, list):
        raise ConfigError(path, "must be a list of service names or {service, condition} tables")
    deps: list[Dependency] = []
    for i, item in enumerate(raw):
        where = f"{path}[{i}]"
        if isinstance(item, str):
            deps.append(Dependency(item))
        elif isinstance(item, dict):
            known_keys(item, DEPENDENCY_KEYS, where)
            cond = choice(item.get("condition", "healthy"), CONDITIONS, f"{where}.condition")
            deps.append(
                Dependency(text(item.get("service"), f"{where}.service"), cast(Condition, cond))
            )
        else:
            raise ConfigError(where, "must be a service name or a {service, condition} table")
    return tuple(deps)


# What a one-shot task has no use for: it listens nowhere and is done when it exits 0.
_NOT_FOR_TASKS = (
    "port",
    "probe",
    "exports",
    "user",
    "password",
    "database",
    "durable",
    "bin_dir",
    "settings",
)


def port_of(raw: Mapping[str, object], kind: ServiceKind, path: str) -> int:
    """The service's port; a task has none (0) and none of the keys that go with one."""
    if kind != "task":
        for name in ("inputs", "rerun"):
            if name in raw:
                raise ConfigError(f"{path}.{name}", "only a task (kind 'task') has this key")
        return port_number(raw.get("port"), f"{path}.port")
    for name in _NOT_FOR_TASKS:
        if name in raw:
            raise ConfigError(
                f"{path}.{name}",
                "a task (kind 'task') is a one-shot command: it has no port, probe or "
                "exports; it is done when it exits 0",
            )
    return 0

"""One ``[tool.realstack.services.<name>]`` table → a validated :class:`Service`: kind
defaults, login, probe, dependencies, profiles, what a process inherits; every error names its
field path. The stack-level steps (locating, env files, state location) are in :mod:`manifest`.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import cast

from realstack.errors import ConfigError
from realstack.fields import (
    boolean,
    choice,
    fmt,
    hostname,
    integer,
    interpolate,
    key,
    port_number,
    seconds,
    shown,
    str_list,
    str_map,
    text,
)
from realstack.model import (
    COMMAND_KINDS,
    CONDITIONS,
    PROBE_KINDS,
    PROVIDERS,
    RERUNS,
    SERVICE_KINDS,
    Condition,
    Dependency,
    Probe,
    ProbeKind,
    ProviderName,
    Rerun,
    Service,
    ServiceKind,
)
from realstack.project import ROOT

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# the keys a table may have: derived from the model, so a new field is a new key
SERVICE_KEYS = frozenset(f.name for f in dataclasses.fields(Service)) - {"name"}
PROBE_KEYS = frozenset(f.name for f in dataclasses.fields(Probe))
DEPENDENCY_KEYS = frozenset(f.name for f in dataclasses.fields(Dependency))
# Fields whose strings go through {placeholder} formatting after ${VAR} substitution: braces
# in substituted values (a password like "pa{ss}") must stay literal there.
_FORMATTED_KEYS = {"command", "env", "exports", "probe"}
_DEFAULT_PROBE: dict[ServiceKind, ProbeKind] = {
    "postgres": "postgres",
    "redis": "redis",
    "clickhouse": "clickhouse",
    "process": "tcp",
    "task": "tcp",  # never used: a task is done when it exits 0
}
_DEFAULT_EXPORTS: dict[ServiceKind, dict[str, str]] = {
    "postgres": {"DATABASE_URL": "{url}", "POSTGRES_SERVICE_URL": "{url}"},
    "redis": {"REDIS_URL": "{url}", "REDIS_SERVICE_URL": "{url}"},
    # the names the official image reads, so clients and the container agree
    "clickhouse": {
        "CLICKHOUSE_SERVICE_URL": "{url}",
        "CLICKHOUSE_USER": "{user}",
        "CLICKHOUSE_PASSWORD": "{password}",
        "CLICKHOUSE_DB": "{database}",
    },
    "process": {},
    "task": {},
}
# What a kind's user/database default to where the manifest leaves them out.
_DEFAULT_LOGIN: dict[ServiceKind, tuple[str, str]] = {"clickhouse": ("default", "default")}


def parse_profiles(value: str, path: str = "profiles") -> frozenset[str]:
    """``analytics,search`` (commas or spaces) as a set of valid profile names."""
    names = frozenset(n for n in re.split(r"[,\s]+", value) if n)
    for name in sorted(names):
        if not _NAME.fullmatch(name):
            raise ConfigError(path, f"invalid profile name {shown(name)}")
    return names


# --------------------------------------------------------------------------- building


def build_service(
    name: str,
    raw: object,
    root: Path,
    variables: Mapping[str, str],
    default_provider: ProviderName = "native",
) -> Service:
    path = key(f"{ROOT}.services", name)
    if not _NAME.fullmatch(name):
        raise ConfigError(path, "service names are lower-case letters, digits, '-' and '_'")
    if not isinstance(raw, dict):
        raise ConfigError(path, "must be a table")
    unknown = set(raw) - SERVICE_KEYS
    if unknown:
        raise ConfigError(key(path, sorted(map(str, unknown))[0]), "unknown key")
    raw = {
        k: interpolate(v, variables, f"{path}.{k}", literal_braces=k in _FORMATTED_KEYS)
        for k, v in raw.items()
    }
    kind = cast(ServiceKind, choice(raw.get("kind"), SERVICE_KINDS, f"{path}.kind"))
    host = hostname(raw.get("host", "127.0.0.1"), f"{path}.host")
    port = _port(raw, kind, path)
    default_user, default_database = _DEFAULT_LOGIN.get(kind, ("", ""))
    user = text(raw.get("user", default_user), f"{path}.user")
    password = text(raw.get("password", ""), f"{path}.password")
    database = text(raw.get("database", default_database), f"{path}.database")
    if kind == "postgres" and not (user and database):
        raise ConfigError(f"{path}.user" if not user else f"{path}.database", "required")
    if kind == "redis" and database and not re.fullmatch(r"[0-9]{1,5}", database):
        raise ConfigError(f"{path}.database", "a Redis database is a number")
    placeholders = {
        "name": name,
        "host": host,
        "port": str(port),
        "python": sys.executable,
        "root": str(root),
    }
    command = tuple(
        fmt(a, placeholders, f"{path}.command[{i}]")
        for i, a in enumerate(str_list(raw.get("command", []), f"{path}.command"))
    )
    if kind in COMMAND_KINDS and not command:
        raise ConfigError(f"{path}.command", f"required for kind {kind!r}")
    cwd_raw = raw.get("cwd")
    bin_raw = raw.get("bin_dir")
    provider = choice(raw.get("provider", default_provider), PROVIDERS, f"{path}.provider")
    if kind in COMMAND_KINDS:
        if "provider" in raw and provider == "docker":
            raise ConfigError(f"{path}.provider", f"kind {kind!r} always runs natively")
        provider = "native"
    elif kind == "clickhouse" and provider == "native":
        if "provider" in raw:
            raise ConfigError(f"{path}.provider", "kind 'clickhouse' runs in docker (or auto)")
        provider = "docker"  # a native default covers the kinds that have a native provider
    svc = Service(
        name=name,
        kind=kind,
        port=port,
        host=host,
        probe=_probe(raw.get("probe"), kind, placeholders, f"{path}.probe"),
        depends_on=_dependencies(raw.get("depends_on", []), f"{path}.depends_on"),
        startup_timeout=seconds(raw.get("startup_timeout", 30), f"{path}.startup_timeout"),
        stop_timeout=seconds(raw.get("stop_timeout", 5), f"{path}.stop_timeout"),
        command=command,
        cwd=root / text(cwd_raw, f"{path}.cwd") if cwd_raw is not None else None,
        env={
            k: fmt(v, placeholders, key(f"{path}.env", k))
            for k, v in str_map(raw.get("env", {}), f"{path}.env").items()
        },
        user=user,
        password=password,
        database=database,
        durable=boolean(raw.get("durable", True), f"{path}.durable"),
        bin_dir=Path(text(bin_raw, f"{path}.bin_dir")) if bin_raw else None,
        settings=_settings(raw.get("settings"), kind, f"{path}.settings"),
        provider=cast(ProviderName, provider),
        compose_service=text(raw.get("compose_service", ""), f"{path}.compose_service"),
        profiles=_profiles(raw.get("profiles", []), f"{path}.profiles"),
        inherit_env=_inherit_env(raw.get("inherit_env", False), f"{path}.inherit_env"),
        inputs=_inputs(raw.get("inputs", []), f"{path}.inputs"),
        rerun=cast(Rerun, choice(raw.get("rerun", "on-change"), RERUNS, f"{path}.rerun")),
    )
    exports = {**_DEFAULT_EXPORTS[kind], **str_map(raw.get("exports", {}), f"{path}.exports")}
    fields = {
        **placeholders,
        "host": svc.url_host,
        "url": svc.url,
        "user": user,
        "password": password,
        "database": database,
    }
    rendered = {k: fmt(v, fields, key(f"{path}.exports", k)) for k, v in exports.items()}
    for variable in rendered:
        if not _VAR_NAME.fullmatch(variable):
            raise ConfigError(
                key(f"{path}.exports", variable), "not a valid environment variable name"
            )
    return dataclasses.replace(svc, exports=rendered)


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
_SETTING = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")


def _settings(raw: object, kind: ServiceKind, path: str) -> dict[str, str]:
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


def _inputs(raw: object, path: str) -> tuple[str, ...]:
    """Glob patterns under the project root (``alembic/versions/*.py``, ``migrations/**``)."""
    patterns = str_list(raw, path)
    for i, pattern in enumerate(patterns):
        if not pattern or pattern.startswith("/") or ".." in Path(pattern).parts:
            raise ConfigError(
                f"{path}[{i}]", f"a glob pattern under the project root, got {shown(pattern)}"
            )
    return tuple(patterns)


def _port(raw: Mapping[str, object], kind: ServiceKind, path: str) -> int:
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


def _probe(raw: object, kind: ServiceKind, fields: Mapping[str, str], path: str) -> Probe:
    if raw is None:
        return Probe(kind=_DEFAULT_PROBE[kind])
    if isinstance(raw, str):
        raw = {"kind": raw}
    if not isinstance(raw, dict):
        raise ConfigError(path, "must be a probe kind or a table")
    unknown = set(raw) - PROBE_KEYS
    if unknown:
        raise ConfigError(key(path, sorted(map(str, unknown))[0]), "unknown key")
    pkind = cast(ProbeKind, choice(raw.get("kind"), PROBE_KINDS, f"{path}.kind"))
    probe_path = fmt(text(raw.get("path", "/"), f"{path}.path"), fields, f"{path}.path")
    if not probe_path.startswith("/"):
        raise ConfigError(f"{path}.path", "must start with '/'")
    status = integer(raw.get("status", 200), f"{path}.status")
    if not 100 <= status <= 599:
        raise ConfigError(f"{path}.status", f"{status} is not an HTTP status")
    argv = tuple(
        fmt(a, fields, f"{path}.command[{i}]")
        for i, a in enumerate(str_list(raw.get("command", []), f"{path}.command"))
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


def _inherit_env(raw: object, path: str) -> tuple[str, ...]:
    """``true`` (the whole caller's environment), ``false``, or a list of variable names."""
    if isinstance(raw, bool):
        return ("*",) if raw else ()
    names = str_list(raw, path)
    for i, name in enumerate(names):
        if not _VAR_NAME.fullmatch(name):
            raise ConfigError(f"{path}[{i}]", f"not a variable name: {shown(name)}")
    return tuple(names)


def _profiles(raw: object, path: str) -> tuple[str, ...]:
    """A list of names (each entry one name), or one comma/space separated string."""
    if isinstance(raw, str):
        return tuple(sorted(parse_profiles(raw, path)))
    names = str_list(raw, path)
    for i, name in enumerate(names):
        if not _NAME.fullmatch(name):
            raise ConfigError(f"{path}[{i}]", f"invalid profile name {shown(name)}")
    return tuple(sorted(set(names)))


def _dependencies(raw: object, path: str) -> tuple[Dependency, ...]:
    if not isinstance(raw, list):
        raise ConfigError(path, "must be a list of service names or {service, condition} tables")
    deps: list[Dependency] = []
    for i, item in enumerate(raw):
        where = f"{path}[{i}]"
        if isinstance(item, str):
            deps.append(Dependency(item))
        elif isinstance(item, dict):
            unknown = set(item) - DEPENDENCY_KEYS
            if unknown:
                raise ConfigError(key(where, sorted(map(str, unknown))[0]), "unknown key")
            cond = choice(item.get("condition", "healthy"), CONDITIONS, f"{where}.condition")
            deps.append(
                Dependency(text(item.get("service"), f"{where}.service"), cast(Condition, cond))
            )
        else:
            raise ConfigError(where, "must be a service name or a {service, condition} table")
    return tuple(deps)


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
                raise ConfigError(where, f"unknown service {dep.service!r}")
            if dep.service == svc.name:
                raise ConfigError(where, "a service cannot depend on itself")
            if dep.service in seen:
                raise ConfigError(where, f"{dep.service!r} is listed twice")
            seen.add(dep.service)
            _check_condition(dep, by_name[dep.service], where)
    ports: dict[tuple[str, int], str] = {}
    for svc in services:
        if svc.is_task:
            continue
        other = ports.setdefault((svc.host, svc.port), svc.name)
        if other != svc.name:
            raise ConfigError(
                f"{ROOT}.services.{svc.name}.port", f"port {svc.port} is also used by {other!r}"
            )

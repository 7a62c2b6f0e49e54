"""A service table's address part: where the service is and who logs in (host, port, user,
password, database), read before anything else so that other services can refer to it
(``{db.port}``) while their own tables are built (:mod:`realstack.service_spec`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from realstack.errors import ConfigError
from realstack.fields import choice, hostname, interpolate, key, known_keys, text
from realstack.model import (
    CONTAINER_KINDS,
    SERVICE_KINDS,
    SWITCHABLE_KINDS,
    Probe,
    Service,
    ServiceKind,
)
from realstack.project import ROOT
from realstack.service_parts import NAME, port_of

# the keys a table may have: derived from the model, so a new field is a new key
SERVICE_KEYS = frozenset(f.name for f in dataclasses.fields(Service)) - {"name"}
# Fields whose strings go through {placeholder} formatting after ${VAR} substitution: braces
# in substituted values (a password like "pa{ss}") must stay literal there.
_FORMATTED_KEYS = {"command", "env", "exports", "probe"}
# What a kind's user/database default to where the manifest leaves them out.
_DEFAULT_LOGIN: dict[ServiceKind, tuple[str, str]] = {"clickhouse": ("default", "default")}


@dataclass(frozen=True)
class Address:
    """Where a service is and who logs in: what other services may refer to."""

    path: str
    raw: dict[str, object]  # the table, ``${…}`` resolved
    kind: ServiceKind
    host: str
    port: int
    user: str
    password: str
    database: str


def _default_host(kind: ServiceKind, provider: object, override: str | None) -> str:
    """Loopback, except for a container on a network engine: its ports are published on the
    engine's machine (``DOCKER_HOST`` / the docker context), never assumed to be this one."""
    if override and kind in SWITCHABLE_KINDS:
        provider = override
    if kind in CONTAINER_KINDS and provider in ("docker", "auto"):
        # on demand: a native-only manifest loads no provider code
        from realstack.providers.placement import published_host  # noqa: PLC0415

        return published_host("127.0.0.1")
    return "127.0.0.1"


def address(
    name: str,
    raw: object,
    variables: Mapping[str, str],
    provider: str = "native",
    override: str | None = None,
) -> Address:
    path = key(f"{ROOT}.services", name)
    if not NAME.fullmatch(name):
        raise ConfigError(path, "service names are lower-case letters, digits, '-' and '_'")
    if not isinstance(raw, dict):
        raise ConfigError(path, "must be a table")
    known_keys(raw, SERVICE_KEYS, path)
    resolved = {
        str(k): interpolate(v, variables, f"{path}.{k}", literal_braces=k in _FORMATTED_KEYS)
        for k, v in raw.items()
    }
    kind = cast(ServiceKind, choice(resolved.get("kind"), SERVICE_KINDS, f"{path}.kind"))
    chosen = resolved.get("provider", provider)
    default = _default_host(kind, "docker" if kind == "clickhouse" else chosen, override)
    host = hostname(resolved.get("host", default), f"{path}.host")
    port = port_of(resolved, kind, path)
    default_user, default_database = _DEFAULT_LOGIN.get(kind, ("", ""))
    user = text(resolved.get("user", default_user), f"{path}.user")
    password = text(resolved.get("password", ""), f"{path}.password")
    database_raw = resolved.get("database", default_database)
    if kind == "redis" and type(database_raw) is int:  # a db index, written as the number it is
        database_raw = str(database_raw)
    database = text(database_raw, f"{path}.database")
    if kind == "postgres" and not (user and database):
        raise ConfigError(f"{path}.user" if not user else f"{path}.database", "required")
    if kind == "redis" and database and not re.fullmatch(r"[0-9]{1,5}", database):
        raise ConfigError(f"{path}.database", "a Redis database is a number")
    return Address(path, resolved, kind, host, port, user, password, database)


def peer_fields(
    name: str,
    raw: object,
    variables: Mapping[str, str],
    provider: str = "native",
    override: str | None = None,
) -> dict[str, str]:
    """``{name.port}``, ``{name.host}``, ``{name.url}``, ``{name.user}``, ``{name.password}``,
    ``{name.database}``: how other services' commands, env and exports refer to this one (a
    task has no address)."""
    a = address(name, raw, variables, provider, override)
    if a.kind == "task":
        return {}
    svc = Service(
        name,
        a.kind,
        a.port,
        Probe("tcp"),
        a.host,
        user=a.user,
        password=a.password,
        database=a.database,
    )
    fields = {
        "host": svc.url_host,
        "port": str(a.port),
        "url": svc.url,
        "user": a.user,
        "password": a.password,
        "database": a.database,
    }
    return {f"{name}.{k}": v for k, v in fields.items()}

"""One ``[tool.realstack.services.<name>]`` table → a validated :class:`Service`: kind
defaults, login, probe, dependencies, profiles, what a process inherits; every error names its
field path. The stack-level steps (locating, env files, state location) are in :mod:`manifest`.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from realstack.errors import ConfigError
from realstack.fields import (
    ARGV,
    boolean,
    choice,
    fmt,
    key,
    seconds,
    str_list,
    str_map,
    text,
)
from realstack.model import (
    COMMAND_KINDS,
    PROVIDERS,
    RERUNS,
    ProviderName,
    Rerun,
    Service,
    ServiceKind,
)
from realstack.project import ROOT
from realstack.service_address import address
from realstack.service_parts import (
    VAR_NAME,
    dependencies_of,
    inherit_env_of,
    input_globs,
    probe_of,
    profiles_of,
    server_settings,
)

DEFAULT_EXPORTS: dict[ServiceKind, dict[str, str]] = {
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


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class Defaults:
    """What every service table of one stack is built with: the project, the values ``${…}``
    resolves against, the stack's provider, its app interpreter (``{python}``), whether
    servers are durable unless they say, and the other services' fields (``{db.port}``)."""

    root: Path
    variables: Mapping[str, str]
    provider: ProviderName = "native"
    python: str = sys.executable
    durable: bool = True
    peers: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)  # top-level ``env``: every command's
    override: str | None = None  # ``--provider`` of this command (postgres/redis)


def _env_of(
    kind: ServiceKind, raw: Mapping[str, object], shared: Mapping[str, str], path: str
) -> dict[str, tuple[str, str]]:
    """A command's environment: the stack's shared ``env``, then its own (which wins); each
    value with the field path its placeholders are reported under."""
    own = str_map(raw.get("env", {}), f"{path}.env")
    for name in own:
        if not VAR_NAME.fullmatch(name):
            raise ConfigError(key(f"{path}.env", name), "not a valid environment variable name")
    common = shared if kind in COMMAND_KINDS else {}
    return {
        **{k: (v, key(f"{ROOT}.env", k)) for k, v in common.items()},
        **{k: (v, key(f"{path}.env", k)) for k, v in own.items()},
    }


def build_service(name: str, raw: object, defaults: Defaults) -> Service:
    a = address(name, raw, defaults.variables, defaults.provider, defaults.override)
    path, raw, kind, host, port = a.path, a.raw, a.kind, a.host, a.port
    user, password, database, root = a.user, a.password, a.database, defaults.root
    placeholders = {
        **defaults.peers,
        "name": name,
        "host": host,
        "port": str(port),
        "python": defaults.python,
        "root": str(root),
    }
    command = tuple(
        fmt(a, placeholders, f"{path}.command[{i}]")
        for i, a in enumerate(str_list(raw.get("command", []), f"{path}.command", ARGV))
    )
    if kind in COMMAND_KINDS and not command:
        raise ConfigError(f"{path}.command", f"required for kind {kind!r}")
    cwd_raw = raw.get("cwd")
    bin_raw = raw.get("bin_dir")
    provider = choice(raw.get("provider", defaults.provider), PROVIDERS, f"{path}.provider")
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
        probe=probe_of(raw.get("probe"), kind, placeholders, f"{path}.probe"),
        depends_on=dependencies_of(raw.get("depends_on", []), f"{path}.depends_on"),
        startup_timeout=seconds(raw.get("startup_timeout", 30), f"{path}.startup_timeout"),
        stop_timeout=seconds(raw.get("stop_timeout", 5), f"{path}.stop_timeout"),
        command=command,
        # relative to the project, and the project itself by default: never wherever the
        # command that started the stack happened to run
        cwd=root / text(cwd_raw, f"{path}.cwd") if cwd_raw is not None else root,
        env={
            k: fmt(v, placeholders, where)
            for k, (v, where) in _env_of(kind, raw, defaults.env, path).items()
        },
        user=user,
        password=password,
        database=database,
        durable=boolean(raw.get("durable", defaults.durable), f"{path}.durable"),
        bin_dir=Path(text(bin_raw, f"{path}.bin_dir")) if bin_raw else None,
        settings=server_settings(raw.get("settings"), kind, f"{path}.settings"),
        provider=cast(ProviderName, provider),
        compose_service=text(raw.get("compose_service", ""), f"{path}.compose_service"),
        profiles=profiles_of(raw.get("profiles", []), f"{path}.profiles"),
        inherit_env=inherit_env_of(raw.get("inherit_env", False), f"{path}.inherit_env"),
        inputs=input_globs(raw.get("inputs", []), f"{path}.inputs"),
        rerun=cast(Rerun, choice(raw.get("rerun", "on-change"), RERUNS, f"{path}.rerun")),
    )
    exports = {**DEFAULT_EXPORTS[kind], **str_map(raw.get("exports", {}), f"{path}.exports")}
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
        if not VAR_NAME.fullmatch(variable):
            raise ConfigError(
                key(f"{path}.exports", variable), "not a valid environment variable name"
            )
    return dataclasses.replace(svc, exports=rendered)

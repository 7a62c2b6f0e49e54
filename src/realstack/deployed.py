"""Deployed envs: a shared stack realstack only looks at (``REALSTACK_DEPLOYED=true``).

Such an env's file (``envs/staging.env``) gives each service's exports as URLs
(``BACKEND_SERVICE_URL=https://…``); everything else about it comes from the manifest (its
probe). A service is *offered* when the env gives one of its exports; its other exports are
dropped, so nothing local (a ``localhost`` DATABASE_URL) ever stands in for the deployed one.
Secrets (``*TOKEN*``, ``*KEY*`` …) of a deployed env come from the environment only, never
from the env file in git.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import cast
from urllib.parse import urlsplit

from realstack.errors import ConfigError
from realstack.fields import boolean, choice, key, known_keys
from realstack.model import SERVICE_KINDS, Service, ServiceKind
from realstack.project import ROOT
from realstack.secrets import is_secret_name
from realstack.service_address import SERVICE_KEYS
from realstack.service_parts import dependencies_of, probe_of, profiles_of
from realstack.service_spec import DEFAULT_EXPORTS

FLAG = "REALSTACK_DEPLOYED"
# The URL schemes a kind is reached by; a kind's URL is its first given export of one.
SCHEMES: dict[ServiceKind, tuple[str, ...]] = {
    "postgres": ("postgresql", "postgres"),
    "redis": ("redis", "rediss"),
    "clickhouse": ("http", "https"),
    "process": ("http", "https"),
    "task": (),
}
_DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "postgres": 5432, "redis": 6379}
_DEFAULT_PORTS["rediss"] = 6379
_NO_FIELDS: Mapping[str, str] = {}  # a deployed probe's path has no local placeholders


def is_deployed(variables: Mapping[str, str]) -> bool:
    raw = variables.get(FLAG, "")
    return bool(raw) and boolean(raw, FLAG)


def check_env_file(env: str, values: Mapping[str, str]) -> None:
    """A deployed env's file must not carry secrets: it is in git."""
    for name, value in values.items():
        if value and is_secret_name(name):
            raise ConfigError(
                f"envs/{env}.env: {name}",
                "a deployed env's secrets come from the environment, never from a file in "
                f"git: remove it here and export {name} where the tests run",
            )


def build_deployed(name: str, raw: object, variables: Mapping[str, str]) -> Service:
    """A service table read for a deployed env: its kind, probe, dependencies, profiles and
    the names of its exports. Its local details (port, command, login, ``${…}`` in them) are
    another env's business and are not read, so the env file needs only the URLs."""
    path = key(f"{ROOT}.services", name)
    if not isinstance(raw, dict):
        raise ConfigError(path, "must be a table")
    known_keys(raw, SERVICE_KEYS, path)
    kind = cast(ServiceKind, choice(raw.get("kind"), SERVICE_KINDS, f"{path}.kind"))
    exports = raw.get("exports", {})
    names = [*DEFAULT_EXPORTS[kind], *(exports if isinstance(exports, dict) else {})]
    svc = Service(
        name=name,
        kind=kind,
        port=0,
        probe=probe_of(raw.get("probe"), kind, _NO_FIELDS, f"{path}.probe"),
        host="",
        depends_on=dependencies_of(raw.get("depends_on", []), f"{path}.depends_on"),
        profiles=profiles_of(raw.get("profiles", []), f"{path}.profiles"),
        exports=dict.fromkeys(names, ""),
    )
    return externalize(svc, variables)


def externalize(svc: Service, variables: Mapping[str, str]) -> Service:
    """``svc`` as the deployed env offers it: the exports its env gives, and the URL (host,
    port) to probe; a task, or a service whose exports the env does not give, is offered
    nowhere (``external`` stays "")."""
    given = {k: variables[k] for k in svc.exports if variables.get(k)}
    for name, value in given.items():
        try:
            urlsplit(value).port  # noqa: B018 - parses host and port: a bad URL is said here
        except ValueError as exc:
            raise ConfigError(name, f"not a usable URL ({exc})") from None
    url = next(
        (v for v in given.values() if urlsplit(v).scheme in SCHEMES[svc.kind]),
        "",
    )
    if not url:
        return dataclasses.replace(svc, exports=given, external="")
    parts = urlsplit(url)
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:
        raise ConfigError(f"{next(k for k, v in given.items() if v == url)}", "bad port") from None
    return dataclasses.replace(
        svc, exports=given, external=url, host=parts.hostname or "", port=port
    )

"""What a deployed env offers to check: one target per service URL (and per WebSocket URL).

Everything here is data read once from the loaded stack; the checks never read the
environment themselves, so a run is decided by what ``load_stack`` saw.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from realstack.errors import ConfigError
from realstack.model import Service, Stack
from realstack.secrets import MASK, is_secret_name

Kind = Literal["http", "clickhouse", "websocket", "postgres", "redis"]

TOKEN_VAR = "STAGING_TEST_JWT_TOKEN"  # noqa: S105 - the name, not the value
DEFAULT_TIMEOUT = 5.0
IDENTITY_FIELDS = ("env", "version", "build")
# The reference services' endpoints that need a bearer token (services/README.md): auth
# verifies it, the backend asks auth (an unknown run is a 404 once the token is accepted).
# Other services name theirs with STAGING_BEARER_PATH_<SERVICE>; an empty value turns it off.
REFERENCE_BEARER_PATHS = {
    "auth": "/auth/verify",
    "backend": "/api/runs/00000000-0000-0000-0000-000000000000",
}
_KINDS: dict[str, Kind] = {"postgres": "postgres", "redis": "redis", "clickhouse": "clickhouse"}
# Query parameters that carry credentials even when their names do not say so.
_SECRET_QUERY = {"auth", "sig", "signature", "jwt", "pass", "pwd", "code", "access_token"}


@dataclass(frozen=True)
class Target:
    """One thing to check and what answer to expect from it."""

    name: str
    kind: Kind
    url: str = ""  # "" when not offered; may hold secrets: print only :func:`redact_url`
    path: str = "/health"
    expect_status: int = 200
    bearer_path: str = ""
    expect: Mapping[str, str] = field(default_factory=dict)  # identity: env/version/build
    login: tuple[str, str] | None = field(default=None, repr=False)  # ClickHouse basic auth


@dataclass(frozen=True)
class Settings:
    """Thresholds and the token, from the env file and the environment."""

    timeout: float = DEFAULT_TIMEOUT
    slow_ms: float = 1000.0
    cert_warn_days: int = 14
    token: str = field(default="", repr=False)


def _number(variables: Mapping[str, str], name: str, default: float) -> float:
    raw = variables.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(name, f"expected a number (0 or more), got {raw!r}")
    return value


def settings_of(variables: Mapping[str, str], timeout: float = DEFAULT_TIMEOUT) -> Settings:
    return Settings(
        timeout=timeout,
        slow_ms=_number(variables, "STAGING_SLOW_MS", 1000.0),
        cert_warn_days=int(_number(variables, "STAGING_CERT_WARN_DAYS", 14)),
        token=variables.get(TOKEN_VAR, ""),
    )


def _suffix(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def _expected(variables: Mapping[str, str], service: str) -> dict[str, str]:
    """``STAGING_EXPECT_BUILD_BACKEND`` over ``STAGING_EXPECT_BUILD``, per identity field."""
    found = {}
    for item in IDENTITY_FIELDS:
        base = f"STAGING_EXPECT_{item.upper()}"
        value = variables.get(f"{base}_{_suffix(service)}") or variables.get(base, "")
        if value:
            found[item] = value
    return found


def _service_target(svc: Service, variables: Mapping[str, str]) -> Target:
    if not svc.external:
        return Target(svc.name, _KINDS.get(svc.kind, "http"))
    if svc.kind in ("postgres", "redis"):
        return Target(svc.name, svc.kind, svc.external)
    if svc.kind == "clickhouse":
        user = svc.exports.get("CLICKHOUSE_USER", "")
        login = (user, svc.exports.get("CLICKHOUSE_PASSWORD", "")) if user else None
        return Target(svc.name, "clickhouse", svc.external, path="/", login=login)
    http_probe = svc.probe.kind == "http"
    bearer = variables.get(f"STAGING_BEARER_PATH_{_suffix(svc.name)}")
    return Target(
        svc.name,
        "http",
        svc.external,
        path=svc.probe.path if http_probe else "/health",
        expect_status=svc.probe.status if http_probe else 200,
        bearer_path=REFERENCE_BEARER_PATHS.get(svc.name, "") if bearer is None else bearer,
        expect=_expected(variables, svc.name),
    )


def _websocket_targets(svc: Service) -> list[Target]:
    """``backend ws`` for the backend's WEBSOCKET_URL; ``<service> <EXPORT>`` for any other."""
    return [
        Target(f"{svc.name} {'ws' if name == 'WEBSOCKET_URL' else name}", "websocket", url)
        for name, url in svc.exports.items()
        if urlsplit(url).scheme in ("ws", "wss")
    ]


def targets_of(stack: Stack) -> list[Target]:
    """Every service of the manifest (tasks aside), each followed by its WebSocket URLs."""
    if not stack.deployed:
        raise ConfigError(
            f"envs/{stack.env}.env",
            "not a deployed env (no REALSTACK_DEPLOYED=true): staging.check checks a "
            "deployed stack; `invoke services.status` checks a local one",
        )
    targets: list[Target] = []
    for svc in stack.services:
        if svc.is_task:
            continue
        targets.append(_service_target(svc, stack.variables))
        targets.extend(_websocket_targets(svc))
    return targets


def redact_url(url: str) -> str:
    """``url`` without its password and secret query values: what may be printed."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a malformed host or port is said, not raised
    except ValueError:
        return "(not a usable URL)"
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:{MASK}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, MASK if is_secret_name(k) or k.lower() in _SECRET_QUERY else v) for k, v in pairs],
            safe="*",
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

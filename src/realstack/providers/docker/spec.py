"""One compose service → the engine's create arguments, for the parts of the compose model
realstack translates; anything else is named so the caller hands the service to compose.

The model is ``docker compose config --format json`` (interpolated, normalised, env files
resolved): compose stays the file format and the source of image, env, volumes and ports;
only the create/start calls skip its CLI. Containers, networks and volumes get the labels
compose gives them, so ``compose ps/logs/rm/down`` see them as their own. No config-hash
label is written: compose accepts a network or volume without one as it is.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realstack.providers.docker.engine import ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL

NETWORK_LABEL = "com.docker.compose.network"
VOLUME_LABEL = "com.docker.compose.volume"
HASH_LABEL = "com.docker.compose.config-hash"

# Service keys translated here (the rest go to `compose up`). profiles and depends_on do not
# change the container: realstack chose the service and starts its dependencies itself.
_SERVICE_KEYS = {
    "command",
    "container_name",
    "depends_on",
    "entrypoint",
    "environment",
    "healthcheck",
    "hostname",
    "image",
    "labels",
    "networks",
    "ports",
    "profiles",
    "pull_policy",
    "stop_grace_period",
    "stop_signal",
    "user",
    "volumes",
    "working_dir",
}
_PULL_POLICIES = {None, "missing", "if_not_present", "never"}  # absent image: compose pulls
_AUTO_CREATE = {"create_host_path": True}  # a short-syntax bind: the engine creates the path
_HEALTH_KEYS = {"test", "interval", "timeout", "retries", "start_period", "disable"}
_PORT_KEYS = {"mode", "host_ip", "target", "published", "protocol"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9}
_UNIT["h"] = 3600 * 10**9


class Unsupported(Exception):
    """A part of the service this module does not translate (``compose up`` runs it)."""


@dataclass(frozen=True)
class Resource:
    """A project network or named volume: its engine name, compose key, whether external."""

    name: str
    key: str
    external: bool


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    network: Resource
    volumes: tuple[Resource, ...]
    published: frozenset[int]
    aliases: tuple[str, ...]  # on the project network, as compose gives them
    config: dict[str, Any] = field(hash=False)  # for the SDK's low-level ``create_container``
    host: dict[str, Any] = field(hash=False)  # for its ``create_host_config``


def nanoseconds(duration: str) -> int:
    """A Go duration (``1m30s``, ``500ms``) in nanoseconds."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise Unsupported(f"duration {duration!r}")
    return round(sum(float(n) * _UNIT[u] for n, u in parts))


def translate(
    model: dict[str, Any],
    project: str,
    compose_file: Path,
    name: str,
    marks: dict[str, str] | None = None,
) -> ContainerSpec:
    """The create arguments of compose service ``name`` (with realstack's ``marks`` among its
    labels); :class:`Unsupported` otherwise."""
    service = (model.get("services") or {}).get(name)
    if not isinstance(service, dict):
        raise Unsupported(f"no compose service {name!r}")
    extra = sorted(set(service) - _SERVICE_KEYS)
    if extra:
        raise Unsupported(", ".join(extra))
    if service.get("pull_policy") not in _PULL_POLICIES:
        raise Unsupported(f"pull_policy {service['pull_policy']}")
    container = service.get("container_name") or f"{project}-{name}-1"
    network = _network(model, service)
    binds, volumes = _volumes(model, service)
    ports, published = _ports(service)
    labels = {
        **(service.get("labels") or {}),
        PROJECT_LABEL: project,
        SERVICE_LABEL: name,
        ONEOFF_LABEL: "False",
        "com.docker.compose.container-number": "1",
        "com.docker.compose.depends_on": "",
        "com.docker.compose.project.working_dir": str(compose_file.parent),
        "com.docker.compose.project.config_files": str(compose_file),
        **(marks or {}),
    }
    env = service.get("environment") or {}
    config: dict[str, Any] = {
        "name": container,
        "labels": labels,
        "environment": [f"{k}={v}" for k, v in env.items() if v is not None],
        "command": service.get("command"),
        "entrypoint": service.get("entrypoint"),
        "ports": [tuple(key.split("/", 1)) for key in ports],  # exposed
        "volumes": [bind.split(":")[-2] for bind in binds],  # container paths
        "hostname": service.get("hostname"),
        "user": service.get("user"),
        "working_dir": service.get("working_dir"),
        "stop_signal": service.get("stop_signal"),
        "healthcheck": _healthcheck(service.get("healthcheck")),
        "detach": True,
    }
    if "stop_grace_period" in service:
        config["stop_timeout"] = math.ceil(nanoseconds(service["stop_grace_period"]) / 10**9)
    config = {k: v for k, v in config.items() if v is not None}
    host = {"port_bindings": ports, "binds": binds, "network_mode": network.name}
    # compose lists only containers with a config hash; this one is of what was translated
    # (not compose's own, so a `compose up` of this service would recreate it: correct).
    digest = json.dumps([service["image"], config, host], sort_keys=True, default=str)
    labels[HASH_LABEL] = hashlib.sha256(digest.encode()).hexdigest()
    return ContainerSpec(
        container, service["image"], network, volumes, published, (container, name), config, host
    )


def remote_problem(model: dict[str, Any], name: str) -> str | None:
    """Why compose service ``name`` cannot work on an engine on another machine: a bind
    mount of a path of this one, or a port published on the engine's loopback only."""
    service = (model.get("services") or {}).get(name) or {}
    for mount in service.get("volumes") or []:
        if mount.get("type") == "bind":
            return (
                f"compose service {name!r} bind-mounts {mount.get('source')} from this machine, "
                "which that engine cannot see; use a named volume (or a docker context on the "
                "machine that has the path)"
            )
    for port in service.get("ports") or []:
        if _loopback(port.get("host_ip") or ""):
            return (
                f"compose service {name!r} publishes {port['host_ip']}:{port.get('published')}, "
                "the engine machine's loopback, unreachable from here; publish on 0.0.0.0 or "
                "that machine's address (e.g. ${DOCKER_PUBLISH_IP:-127.0.0.1})"
            )
    return None


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _network(model: dict[str, Any], service: dict[str, Any]) -> Resource:
    wanted = service.get("networks") or {"default": None}
    if len(wanted) != 1 or any(v for v in wanted.values()):
        raise Unsupported("networks other than one, without options")
    key = next(iter(wanted))
    declared = (model.get("networks") or {}).get(key) or {}
    if set(declared) - {"name", "ipam", "external"} or declared.get("ipam"):
        raise Unsupported(f"options of network {key!r}")
    return Resource(declared.get("name", key), key, bool(declared.get("external")))


def _volumes(
    model: dict[str, Any], service: dict[str, Any]
) -> tuple[list[str], tuple[Resource, ...]]:
    """Binds in the engine's short form (as compose writes them), and the named volumes."""
    binds, named = [], []
    declared = model.get("volumes") or {}
    for mount in service.get("volumes") or []:
        kind, source, target = mount.get("type"), mount.get("source"), mount.get("target")
        mode = "ro" if mount.get("read_only") else "rw"
        if set(mount) - {"type", "source", "target", "read_only", "volume", "bind"} or (
            mount.get("volume") or (mount.get("bind") or {}) not in ({}, _AUTO_CREATE)
        ):
            raise Unsupported(f"options of volume {target}")
        if kind == "bind" and source and mount.get("bind") == _AUTO_CREATE:
            binds.append(f"{source}:{target}:{mode}")
        elif kind == "volume" and source in declared:
            top = declared[source] or {}
            if set(top) - {"name", "external"}:
                raise Unsupported(f"options of volume {source!r}")
            resource = Resource(top.get("name", source), source, bool(top.get("external")))
            named.append(resource)
            binds.append(f"{resource.name}:{target}:{mode}")
        else:
            raise Unsupported(f"{kind} volume {target}")
    return binds, tuple(named)


def _ports(service: dict[str, Any]) -> tuple[dict[str, list[tuple[str, int]]], frozenset[int]]:
    bindings: dict[str, list[tuple[str, int]]] = {}
    for port in service.get("ports") or []:
        published = str(port.get("published") or "")
        if not published.isdigit() or set(port) - _PORT_KEYS:
            raise Unsupported(f"port {port.get('target')} (a range, or no published port)")
        key = f"{port['target']}/{port.get('protocol') or 'tcp'}"
        bindings.setdefault(key, []).append((port.get("host_ip") or "", int(published)))
    published_ports = frozenset(p for bs in bindings.values() for _, p in bs)
    return bindings, published_ports


def _healthcheck(check: dict[str, Any] | None) -> dict[str, Any] | None:
    if check is None:
        return None
    if set(check) - _HEALTH_KEYS:
        raise Unsupported(f"healthcheck {', '.join(sorted(set(check) - _HEALTH_KEYS))}")
    if check.get("disable"):
        return {"test": ["NONE"]}
    result: dict[str, Any] = {"test": check.get("test")}
    for key in ("interval", "timeout", "start_period"):
        if key in check:
            result[key] = nanoseconds(check[key])
    if "retries" in check:
        result["retries"] = int(check["retries"])
    return {k: v for k, v in result.items() if v is not None}

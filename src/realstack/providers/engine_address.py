"""Where the Docker engine is, as the docker CLI decides it: ``DOCKER_HOST``, else the current
docker context (``DOCKER_CONTEXT`` or ``currentContext`` of ``~/.docker/config.json``), else
the default socket.

A published port is on the engine's machine, not necessarily this one: the env contract,
the probes and the foreign-port check use :func:`engine_host`, never an assumed localhost.
Read without importing the SDK, and outside the docker provider's package (importing that
runs its ``__init__``: ~15 ms): the manifest asks it on every load that names a container.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_SOCKET = "/var/run/docker.sock"  # where the SDK looks without DOCKER_HOST
_NETWORK_SCHEMES = ("tcp", "http", "https", "ssh")


def _config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def context_host() -> str | None:
    """The engine address of the current docker context (``None``: the default context)."""
    try:
        name = os.environ.get("DOCKER_CONTEXT")
        if not name:
            config = json.loads((_config_dir() / "config.json").read_text())
            name = config.get("currentContext") if isinstance(config, dict) else None
        if not isinstance(name, str) or name in ("", "default"):
            return None
        digest = hashlib.sha256(name.encode()).hexdigest()
        meta = json.loads((_config_dir() / "contexts" / "meta" / digest / "meta.json").read_text())
        host = meta["Endpoints"]["docker"]["Host"]
    except (OSError, RuntimeError, ValueError, KeyError, TypeError):
        return None  # no such context here: the CLI would say so; the default applies
    return host if isinstance(host, str) and host else None


def docker_host() -> str:
    """Where the engine answers: ``DOCKER_HOST``, the docker context's, or the default socket."""
    return os.environ.get("DOCKER_HOST") or context_host() or f"unix://{DEFAULT_SOCKET}"


def engine_host() -> str | None:
    """The host of a network engine (tcp/http/https/ssh), ``None`` for a local socket."""
    parts = urlsplit(docker_host())
    if parts.scheme not in _NETWORK_SCHEMES:
        return None
    return parts.hostname or None


def is_local(host: str | None) -> bool:
    """Whether an engine at ``host`` sees this machine's files and ports (a socket, loopback)."""
    if host is None or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def published_host(default: str) -> str:
    """Where a port the engine publishes is reached from here: the engine's host, or
    ``default`` (the manifest's) when the engine is a local socket."""
    return engine_host() or default

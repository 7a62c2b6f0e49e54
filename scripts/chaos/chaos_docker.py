"""The Docker engine as chaos sees it: containers by compose label, images, removal.

The SDK is untyped, so it is imported by name; containers are listed sparse (no inspect each),
since one removed meanwhile would raise NotFound.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from typing import Any

from chaos_project import REPO
from dotenv import dotenv_values

from realstack.providers.docker.engine import engine_available

OFFLINE_IMAGES = REPO / ".realstack" / "offline-images.env"
DEFAULT_IMAGES = {"POSTGRES_IMAGE": "postgres:16-alpine", "REDIS_IMAGE": "redis:7-alpine"}
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def container_name(container: Any) -> str:
    """A sparse container's name (the SDK's ``name`` needs a full inspect)."""
    names = container.attrs.get("Names") or [container.id[:12]]
    return str(names[0]).lstrip("/")


class Docker:
    """The docker SDK, for containers by compose label."""

    def __init__(self) -> None:
        if not engine_available(timeout=5.0):
            raise SystemExit("chaos: no Docker engine answers: bash scripts/start_docker_engine.sh")
        self.sdk: Any = importlib.import_module("docker")
        self.client: Any = self.sdk.from_env(timeout=30)
        self.client.ping()

    def containers(self, project: str, service: str | None = None) -> list[Any]:
        labels = [f"{PROJECT_LABEL}={project}"]
        if service is not None:
            labels.append(f"{SERVICE_LABEL}={service}")
        found = self.client.containers.list(all=True, sparse=True, filters={"label": labels})
        return list(found)

    def images(self) -> dict[str, str]:
        """The image variables for the projects' env files (ours, the offline build's, or the
        defaults); exit naming any image the engine lacks."""
        offline = {k: v for k, v in dotenv_values(OFFLINE_IMAGES).items() if v}
        wanted = {k: os.environ.get(k) or offline.get(k) or d for k, d in DEFAULT_IMAGES.items()}
        missing = self.missing_images(wanted.values())
        if missing:
            self.close()
            raise SystemExit(
                f"chaos: image(s) {', '.join(missing)} not in the engine: run "
                "`bash scripts/build_offline_images.sh` (or docker pull them)"
            )
        return wanted

    def missing_images(self, images: Iterable[str]) -> list[str]:
        missing = []
        for image in images:
            try:
                self.client.images.get(image)
            except self.sdk.errors.ImageNotFound:
                missing.append(image)
        return missing

    def remove_project(self, project: str) -> list[str]:
        """Remove every container, volume and network labelled with ``project``."""
        label = {"label": [f"{PROJECT_LABEL}={project}"]}
        gone = []
        for container in self.client.containers.list(all=True, sparse=True, filters=label):
            container.remove(force=True, v=True)
            gone.append(f"container {container_name(container)}")
        for volume in self.client.volumes.list(filters=label):
            volume.remove(force=True)
            gone.append(f"volume {volume.name}")
        for network in self.client.networks.list(filters=label):
            network.remove()
            gone.append(f"network {network.name}")
        return gone

    def close(self) -> None:
        self.client.close()

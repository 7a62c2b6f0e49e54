"""The engine and the images the docker tests need, or a failure that says how to get them.

A plain module, not a conftest: tests/docker has no ``__init__.py`` (a ``docker`` package would
shadow the SDK), so a conftest here would be imported as a second top-level ``conftest``."""

from __future__ import annotations

import functools
import importlib
import os
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values

from realstack.providers import docker as docker_provider

_sdk: Any = importlib.import_module("docker")
REPO = Path(__file__).resolve().parents[2]
# What scripts/build_offline_images.sh tags when the env file is not there.
OFFLINE_DEFAULTS = {
    "POSTGRES_IMAGE": "realstack-offline/postgres:15",
    "REDIS_IMAGE": "realstack-offline/redis:7",
    "CLICKHOUSE_IMAGE": "realstack-offline/clickhouse:18",
}


@functools.cache
def offline_images() -> dict[str, str]:
    """The offline images; a missing engine or image is a failure with the fix, never a skip."""
    if not docker_provider.engine_available(timeout=5.0):
        pytest.fail("no Docker engine answers: run `bash scripts/start_docker_engine.sh` first")
    found = {
        k: v or ""
        for k, v in dotenv_values(REPO / ".realstack" / "offline-images.env").items()
        if v
    }
    wanted = {
        name: os.environ.get(name) or found.get(name) or default
        for name, default in OFFLINE_DEFAULTS.items()
    }
    client = _sdk.from_env()
    try:
        for image in wanted.values():
            try:
                client.images.get(image)
            except _sdk.errors.ImageNotFound:
                pytest.fail(f"image {image} missing: run `bash scripts/build_offline_images.sh`")
    finally:
        client.close()
    return wanted

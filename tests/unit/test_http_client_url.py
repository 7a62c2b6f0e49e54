"""Where the plugin's ``http_client("name")`` connects: the service's ``<NAME>_SERVICE_URL``
from the env contract, else (a local stack) the app process's own address."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from realstack.manifest import build_stack
from realstack.model import Stack
from realstack.pytest_plugin.fixtures import RealstackHandle, _http_url

APP = {"kind": "process", "port": 18201, "command": ["true"]}
CACHE = {"kind": "redis", "port": 18202}


def stack(tmp_path: Path) -> Stack:
    services = {"app": APP, "cache": CACHE}
    return build_stack({"services": services}, root=tmp_path, env="test", variables={})


def test_the_contracts_service_url_comes_first(tmp_path: Path) -> None:
    handle = RealstackHandle(stack(tmp_path), {"APP_SERVICE_URL": "http://example.test:1"})
    assert _http_url(handle, "app") == "http://example.test:1"


def test_an_app_process_that_exports_no_url_is_reached_at_its_own_address(
    tmp_path: Path,
) -> None:
    """As ``realstack init`` wrote it before (``APP_URL`` only): no usage error."""
    handle = RealstackHandle(stack(tmp_path), {"APP_URL": "http://localhost:18201"})
    assert _http_url(handle, "app") == "http://localhost:18201"


@pytest.mark.parametrize("name", ["nosuch", "cache"])
def test_no_url_and_no_app_process_of_that_name_fails_the_test_naming_both(
    tmp_path: Path, name: str
) -> None:
    handle = RealstackHandle(stack(tmp_path), {"BACKEND_SERVICE_URL": "http://x:2"})
    with pytest.raises(pytest.fail.Exception) as info:
        _http_url(handle, name)
    assert f"no {name.upper()}_SERVICE_URL in the env contract" in str(info.value)
    assert "known: BACKEND_SERVICE_URL; processes: app" in str(info.value)


def test_a_deployed_stack_is_reached_only_where_its_env_says(tmp_path: Path) -> None:
    deployed = dataclasses.replace(stack(tmp_path), deployed=True)
    with pytest.raises(pytest.fail.Exception):
        _http_url(RealstackHandle(deployed, {}), "app")

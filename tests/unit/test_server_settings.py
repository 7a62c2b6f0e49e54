"""Server settings in the manifest: how they are read, refused, compared and passed on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from realstack.errors import ConfigError, ProviderUnavailable
from realstack.manifest import build_stack
from realstack.model import Stack
from realstack.plan import drift, settings_of
from realstack.providers.docker import DockerProvider
from realstack.providers.native.launch import launch_spec
from realstack.state import InstancePaths

PG = {"kind": "postgres", "port": 15432, "user": "u", "database": "d"}
REDIS = {"kind": "redis", "port": 16379}


def stack_of(tmp_path: Path, **services: dict[str, Any]) -> Stack:
    return build_stack({"services": services}, root=tmp_path, env="test", variables={})


def test_values_become_the_servers_spelling(tmp_path: Path) -> None:
    stack = stack_of(
        tmp_path,
        pg={**PG, "settings": {"max_prepared_transactions": 10, "jit": False}},
        cache={**REDIS, "settings": {"enable-debug-command": True, "maxmemory": "64mb"}},
    )

    assert stack.service("pg").settings == {"max_prepared_transactions": "10", "jit": "off"}
    assert stack.service("cache").settings == {"enable-debug-command": "yes", "maxmemory": "64mb"}


def test_redis_settings_are_passed_as_flags_after_realstacks_own(tmp_path: Path) -> None:
    stack = stack_of(tmp_path, cache={**REDIS, "settings": {"appendonly": "yes"}})
    paths = InstancePaths(stack.state_dir)

    argv = launch_spec(stack.service("cache"), paths, {}, stack.instance_id, lambda: None).argv

    assert argv[-2:] == ("--appendonly", "yes")  # the manifest's word wins over the default


@pytest.mark.parametrize(
    ("service", "path", "says"),
    [
        ({**PG, "settings": {"bad name": "1"}}, 'settings."bad name"', "not a setting name"),
        ({**PG, "settings": {"x": "a\nb"}}, "settings.x", "one line"),
        ({**PG, "settings": {"x": ["a"]}}, "settings.x", "string, number or boolean"),
        ({**PG, "settings": "fsync=off"}, "settings", "table of setting = value"),
        (
            {"kind": "process", "port": 1, "command": ["x"], "settings": {"a": "b"}},
            "settings",
            "only postgres and redis",
        ),
    ],
)
def test_bad_settings_are_refused_by_field(
    tmp_path: Path, service: dict[str, Any], path: str, says: str
) -> None:
    with pytest.raises(ConfigError) as err:
        stack_of(tmp_path, svc=service)
    assert err.value.path == f"tool.realstack.services.svc.{path}"
    assert says in str(err.value)


def test_a_changed_setting_is_drift(tmp_path: Path) -> None:
    before = stack_of(tmp_path, pg={**PG, "settings": {"work_mem": "4MB"}})
    after = stack_of(tmp_path, pg={**PG, "settings": {"work_mem": "8MB"}})

    changed = drift(
        settings_of(before, before.service("pg"), "native"),
        settings_of(after, after.service("pg"), "native"),
    )

    assert changed == "settings work_mem=4MB → work_mem=8MB"


def test_a_record_from_before_settings_existed_is_not_drift(tmp_path: Path) -> None:
    stack = stack_of(tmp_path, pg=PG)
    now = settings_of(stack, stack.service("pg"), "native")
    old = {k: v for k, v in now.items() if k != "settings"}

    assert drift(old, now) == ""


def test_docker_refuses_settings_before_asking_the_engine(tmp_path: Path) -> None:
    stack = stack_of(tmp_path, pg={**PG, "settings": {"work_mem": "8MB"}})

    with pytest.raises(ProviderUnavailable, match="compose file's command sets them"):
        DockerProvider(stack).preflight([stack.service("pg")])

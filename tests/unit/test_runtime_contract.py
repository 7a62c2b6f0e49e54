"""``runtime.env`` promises only what runs: a start of one service does not hand out the
address of another that nobody answers on."""

from __future__ import annotations

from pathlib import Path

import pytest
from dotenv import dotenv_values
from test_orchestrator import World

from realstack import runtime
from realstack.errors import NothingRuns
from realstack.providers.placement import Placement

SERVICES = {
    "db": {"kind": "postgres", "port": 15432, "user": "u", "database": "d"},
    "cache": {"kind": "redis", "port": 16379},
}


def test_a_start_of_redis_alone_exports_no_database_url(tmp_path: Path) -> None:
    world = World(tmp_path, SERVICES)

    world.start(["cache"]).raise_for_errors()

    written = dotenv_values(world.paths.runtime_env)
    assert "REDIS_URL" in written
    assert "DATABASE_URL" not in written
    shown = runtime.contract(world.stack, Placement.single(world.stack, world.fake))
    assert shown.keys() == {"REALSTACK_INSTANCE_ID", "REDIS_URL", "REDIS_SERVICE_URL"}


def test_after_a_stop_the_contract_names_nothing_but_the_instance(tmp_path: Path) -> None:
    world = World(tmp_path, SERVICES)
    world.start().raise_for_errors()

    world.stop().raise_for_errors()

    assert dotenv_values(world.paths.runtime_env).keys() == {"REALSTACK_INSTANCE_ID"}


def test_a_service_the_manifest_moved_is_left_out_and_said(tmp_path: Path) -> None:
    world = World(tmp_path, SERVICES)
    world.start().raise_for_errors()
    moved = World(tmp_path, {**SERVICES, "db": {**SERVICES["db"], "port": 25432}})

    values, moves = runtime.contract_and_moves(
        moved.stack, Placement.single(moved.stack, world.fake)
    )

    assert "DATABASE_URL" not in values  # never the new port, where someone else may answer
    assert "REDIS_URL" in values
    assert moves == [
        "db runs on port 15432, but the manifest now says 25432: left out; "
        "`invoke services.start` moves it there"
    ]


def test_when_nothing_runs_env_show_refuses_rather_than_give_an_empty_contract(
    tmp_path: Path,
) -> None:
    """``eval "$(invoke env.show -f shell)"`` would export nothing and go on: env.show fails
    (exit 1), saying what starts the env; the plugin's contract is only empty."""
    world = World(tmp_path, SERVICES)
    placement = Placement.single(world.stack, world.fake)

    with pytest.raises(NothingRuns) as refused:
        runtime.contract_and_moves(world.stack, placement)

    assert refused.value.exit_code == 1
    assert str(refused.value) == (
        "nothing of env 'test' runs: `invoke services.start --wait --env test`"
    )
    assert runtime.contract(world.stack, placement).keys() == {"REALSTACK_INSTANCE_ID"}

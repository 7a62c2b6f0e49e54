"""Who may hold a service without a record: the engine is asked only where a container of
this instance can exist at all."""

from __future__ import annotations

from pathlib import Path

from test_orchestrator import stack_at

from realstack.providers.fake import FakeProvider
from realstack.providers.placement import Placement
from realstack.state import InstancePaths, write_atomic

SERVICES = {"db": {"kind": "postgres", "port": 15432, "user": "u", "database": "d"}}


def placement(root: Path, pings: list[str]) -> tuple[Placement, dict[str, FakeProvider]]:
    stack = stack_at(root, SERVICES)
    made: dict[str, FakeProvider] = {}

    def factory(name: str) -> FakeProvider:
        return made.setdefault(name, FakeProvider(stack))

    def engine() -> bool:
        pings.append("ping")
        return True

    return Placement(stack, factory=factory, engine=engine), made


def test_a_native_instance_never_asks_the_engine(tmp_path: Path) -> None:
    """No container was ever created here: the orphan search stays native, with no ping
    (no SDK import, no request) even while an engine answers."""
    pings: list[str] = []
    where, made = placement(tmp_path, pings)
    db = where.stack.service("db")
    assert [p is made["native"] for p in where.candidates(db, None)] == [True]
    assert pings == []


def test_once_a_container_was_created_the_engine_is_searched_too(tmp_path: Path) -> None:
    """The mark written before the first container makes the engine a candidate, so a
    container a killed start left unrecorded is found."""
    pings: list[str] = []
    where, made = placement(tmp_path, pings)
    paths = InstancePaths(where.stack.state_dir)
    paths.ensure()
    write_atomic(paths.engine_used, "containers\n")
    db = where.stack.service("db")
    assert where.candidates(db, None) == [made["native"], made["docker"]]
    assert pings == ["ping"]

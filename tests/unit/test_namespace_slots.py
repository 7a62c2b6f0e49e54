"""Which namespace a test process takes: its worker's, unless another session holds it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from realstack.pytest_plugin import namespaces


@pytest.fixture(autouse=True)
def no_slot_held_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(namespaces, "_slots", {})
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)


def hold(state_dir: Path, index: int) -> int:
    """Another session's hold (flock is per open file: this descriptor competes like one)."""
    (state_dir / "namespaces").mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / "namespaces" / f"{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_a_worker_takes_its_own_namespace_and_keeps_it(tmp_path: Path) -> None:
    assert namespaces.claim_slot(tmp_path) == ("main", 0)
    assert namespaces.claim_slot(tmp_path) == ("main", 0)


def test_an_xdist_worker_takes_the_one_of_its_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert namespaces.claim_slot(tmp_path) == ("gw1", 2)


def test_a_namespace_another_session_holds_is_passed_over(tmp_path: Path) -> None:
    held = [hold(tmp_path, 0), hold(tmp_path, 1)]
    try:
        assert namespaces.claim_slot(tmp_path) == ("main_2", 2)
    finally:
        for fd in held:
            os.close(fd)


def test_a_redis_namespace_never_lands_on_the_services_own_db() -> None:
    urls = {namespaces.redis_namespace_url("redis://h:1/2", i) for i in range(15)}
    assert len(urls) == 15
    assert "redis://h:1/2" not in urls


def test_a_state_dir_this_run_cannot_write_leaves_the_namespace_unheld(tmp_path: Path) -> None:
    """Another user's stack, a read-only state dir: the worker's own, as before the holds."""
    (tmp_path / "namespaces").write_text("a file where the holds' directory would be")
    assert namespaces.claim_slot(tmp_path) == ("main", 0)

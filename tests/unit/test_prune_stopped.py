"""``services.prune --stopped`` frees the ports stopped checkouts hold.

A stopped checkout keeps its ports, so its URLs are the same at its next start. A new
project on the same machine then got other ports than its env file says ("port 6400 is leased
by … (stopped)"), and a ``psql -p`` copied from that file reached nothing; no command gave
the manifest's ports back short of deleting the other checkout (outside tester F2). Running
instances, and one whose start holds its lock, keep theirs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from filelock import FileLock
from invoke.context import Context
from test_leases import MANIFEST

from realstack import leases, registry
from realstack.instances_task import prune
from realstack.manifest import load_stack
from realstack.records import ContainerRecord, Records
from realstack.state import InstancePaths

PREFERRED = {"CACHE_PORT": "6400"}


def checkout(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    root.mkdir()
    (root / "pyproject.toml").write_text("[tool.realstack]\n" + MANIFEST)
    return root


@pytest.fixture
def first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout that leased the manifest's port and is stopped now."""
    monkeypatch.setenv("REALSTACK_HOME", str(tmp_path / "home"))
    root = checkout(tmp_path, "first")
    assert leases.claim(load_stack(root, environ=PREFERRED)).service("cache").port == 6400
    return root


def test_a_new_checkout_is_told_how_to_have_the_port_and_gets_it_after_the_prune(
    first: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes: list[str] = []
    second = checkout(tmp_path, "second")
    moved = leases.claimed(
        load_stack(second, environ=PREFERRED), lambda name, e, text: notes.append(text)
    )[0]
    assert moved.service("cache").port != 6400
    assert notes[0].startswith(
        f"port 6400 is leased by {first} (env test, stopped; `invoke services.prune --stopped` "
        "frees it); leased "
    )

    prune(Context(), stopped=True)

    out = capsys.readouterr().out
    assert "freed 6400" in out
    assert out.rstrip().endswith("✓ 0 pruned; 2 stopped instance(s) freed their ports")
    held = registry.entry(load_stack(first, environ=PREFERRED).instance_id)
    assert held is not None and held.ports == {} and held.lease == {}
    assert leases.claim(load_stack(second, environ=PREFERRED)).service("cache").port == 6400
    # the first checkout's next start leases another port, as any start that moves says
    assert leases.claim(load_stack(first, environ=PREFERRED)).service("cache").port != 6400


def test_a_running_instance_and_one_whose_start_holds_its_lock_keep_their_ports(
    first: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    running = load_stack(first, environ=PREFERRED)
    record = ContainerRecord("cache", running.instance_id, "docker", "c0ffee", "p", "cache", 1)
    Records(InstancePaths(running.state_dir), running.instance_id).write(record)
    starting = load_stack(checkout(tmp_path, "starting"), environ=PREFERRED)
    taken = leases.claim(starting).service("cache").port
    InstancePaths(starting.state_dir).root.mkdir(parents=True, exist_ok=True)

    with FileLock(InstancePaths(starting.state_dir).lock):
        prune(Context(), stopped=True)

    assert "✓ 0 pruned; 0 stopped instance(s) freed their ports" in capsys.readouterr().out
    for stack, port in ((running, 6400), (starting, taken)):
        entry = registry.entry(stack.instance_id)
        assert entry is not None and entry.ports == {"cache": port}


def test_a_plain_prune_leaves_stopped_checkouts_their_ports(
    first: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prune(Context())

    assert capsys.readouterr().out.strip() == "✓ 0 pruned"
    entry = registry.entry(load_stack(first, environ=PREFERRED).instance_id)
    assert entry is not None and entry.ports == {"cache": 6400}


def test_the_note_names_the_checkout_that_holds_the_port_not_a_gone_one(
    first: Path, tmp_path: Path
) -> None:
    """A gone checkout's entry still lists the port (until a prune), but holds nothing: the
    note named it anyway, sending the user to a directory that no longer exists."""
    shutil.rmtree(first)  # gone: its entry, the oldest, still says 6400
    second = checkout(tmp_path, "second")
    assert leases.claim(load_stack(second, environ=PREFERRED)).service("cache").port == 6400
    notes: list[str] = []

    leases.claimed(
        load_stack(checkout(tmp_path, "third"), environ=PREFERRED),
        lambda name, e, text: notes.append(text),
    )

    assert notes[0].startswith(f"port 6400 is leased by {second} (env test, stopped;"), notes


def test_a_service_whose_profile_is_off_moves_without_a_note(first: Path, tmp_path: Path) -> None:
    """Its port is leased all the same (a later `--profile` start finds it), but nothing of
    it starts: a note about it was noise on every start (ClickHouse, profile analytics)."""
    root = checkout(tmp_path, "second")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'profiles = ["extra"]\n')
    notes: list[str] = []

    moved = leases.claimed(
        load_stack(root, environ=PREFERRED), lambda name, e, text: notes.append(text)
    )[0]

    assert moved.service("cache").port != 6400
    assert notes == []

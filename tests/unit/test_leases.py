"""Port leases as the registry holds them: a damaged lease is no lease (never a failed
command), and a service of ours keeps the port it runs on rather than move."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
from filelock import FileLock

from realstack import leases, registry
from realstack.manifest import load_stack
from realstack.records import ContainerRecord, Records
from realstack.state import InstancePaths

MANIFEST = """
[tool.realstack.services.cache]
kind = "redis"
port = "${CACHE_PORT}"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REALSTACK_HOME", str(tmp_path / "home"))
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text("[tool.realstack]\n" + MANIFEST)
    return root


def write_entry(instance_id: str, lease: object, ports: dict[str, int]) -> None:
    path = registry.home() / "instances" / f"{instance_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "instance_id": instance_id,
        "root": "/nowhere",
        "env": "test",
        "instance": "test",
        "state_dir": "/nowhere/.realstack/test",
        "ports": ports,
        "updated_at": 1.0,
        "lease": lease,
    }
    path.write_text(json.dumps(entry))


@pytest.mark.parametrize(
    "lease",
    [
        {"cache": {"var": "CACHE_PORT", "preferred": 6400}},  # no port
        {"cache": 5},
        {"cache": {"var": "CACHE_PORT", "preferred": 6400, "port": "abc"}},
        {"cache": {"var": "CACHE_PORT", "preferred": 6400, "port": 99999}},
        "not a table",
    ],
)
def test_a_damaged_lease_is_no_lease(project: Path, lease: object) -> None:
    stack = load_stack(project, environ={"CACHE_PORT": "6400"})
    write_entry(stack.instance_id, lease, {"cache": 6400})

    again = load_stack(project, environ={"CACHE_PORT": "6400"})

    assert again.service("cache").port == 6400


def test_a_lease_applies_while_the_manifest_prefers_what_it_did(project: Path) -> None:
    stack = load_stack(project, environ={"CACHE_PORT": "6400"})
    held = {"cache": {"var": "CACHE_PORT", "preferred": 6400, "port": 26400}}
    write_entry(stack.instance_id, held, {"cache": 26400})

    assert load_stack(project, environ={"CACHE_PORT": "6400"}).service("cache").port == 26400
    assert load_stack(project, environ={"CACHE_PORT": "6500"}).service("cache").port == 6500


def test_a_port_held_by_another_checkout_is_left_for_a_block_of_our_own(
    project: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "pyproject.toml").write_text("[tool.realstack]\n" + MANIFEST)
    theirs = load_stack(other, environ={"CACHE_PORT": "6400"})
    leases.claim(theirs)

    ours = leases.claim(load_stack(project, environ={"CACHE_PORT": "6400"}))

    assert ours.service("cache").port != 6400
    assert leases.LOW <= ours.service("cache").port < leases.LOW + leases.SPAN
    again = load_stack(project, environ={"CACHE_PORT": "6400"})
    assert again.service("cache").port == ours.service("cache").port  # kept on the next load


AUTO = """
[tool.realstack.services.web]
kind = "process"
command = ["web", "--port", "{port}"]
port = "auto"
"""


def auto_project(where: Path) -> Path:
    where.mkdir()
    (where / "pyproject.toml").write_text("[tool.realstack]\n" + AUTO)
    return where


def test_an_auto_port_is_a_port_of_the_instances_block_and_the_same_on_every_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REALSTACK_HOME", str(tmp_path / "home"))
    root = auto_project(tmp_path / "a")

    stack = load_stack(root, environ={})

    port = stack.service("web").port
    assert port == leases.block_port(stack.instance_id, 0)
    assert stack.service("web").command == ("web", "--port", str(port))
    assert load_stack(root, environ={}).service("web").port == port


def test_two_checkouts_auto_ports_never_collide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REALSTACK_HOME", str(tmp_path / "home"))
    a, b = auto_project(tmp_path / "a"), auto_project(tmp_path / "b")
    # b's block made to start where a's does: the lease, not luck, keeps them apart
    stack_a = leases.claim(load_stack(a, environ={}))
    forced = {leases.auto_variable("web"): str(stack_a.service("web").port)}
    stack_b = load_stack(b, environ=forced)
    assert stack_b.service("web").port == stack_a.service("web").port

    moved = leases.claim(stack_b)

    assert moved.service("web").port != stack_a.service("web").port


def test_an_auto_port_a_stranger_holds_is_moved_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Any free port": unlike a preferred one, a port taken by something that is no realstack
    instance is not refused but left for the next one of the block — and kept on the next
    load, through the lease."""
    monkeypatch.setenv("REALSTACK_HOME", str(tmp_path / "home"))
    root = auto_project(tmp_path / "a")
    stack = load_stack(root, environ={})
    with socket.create_server(("127.0.0.1", stack.service("web").port)):
        claimed = leases.claim(stack)

    assert claimed.service("web").port != stack.service("web").port
    assert load_stack(root, environ={}).service("web").port == claimed.service("web").port


def test_an_auto_port_set_on_purpose_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALSTACK_HOME", str(tmp_path / "home"))
    root = auto_project(tmp_path / "a")

    stack = load_stack(root, environ={leases.auto_variable("web"): "45678"})

    assert leases.claim(stack).service("web").port == 45678


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for ports bound to 0 (and docker's published ports)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except OSError:
        return 32768, 60999  # Linux's default


def test_leased_ports_stay_out_of_the_kernels_ephemeral_range() -> None:
    # a leased port there is taken by any socket bound to port 0 (a test's server, a docker
    # publish) between the lease and the bind, or between two starts of a stopped instance
    low, high = _ephemeral_range()
    first, last = leases.LOW, leases.LOW + leases.SPAN - 1

    assert last < low or first > high, f"leases {first}-{last} overlap ephemeral {low}-{high}"


def test_a_leased_port_a_stranger_took_is_leased_anew(project: Path) -> None:
    stack = load_stack(project, environ={"CACHE_PORT": "6400"})
    with socket.socket() as stranger:  # not a realstack instance: it holds our leased port
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        taken = stranger.getsockname()[1]
        held = {"cache": {"var": "CACHE_PORT", "preferred": 6400, "port": taken}}
        write_entry(stack.instance_id, held, {"cache": taken})
        assert load_stack(project, environ={"CACHE_PORT": "6400"}).service("cache").port == taken

        moved = leases.claim(load_stack(project, environ={"CACHE_PORT": "6400"}))

    assert moved.service("cache").port not in (taken, 6400)
    again = load_stack(project, environ={"CACHE_PORT": "6400"})
    assert again.service("cache").port == moved.service("cache").port  # the new lease is kept


def test_a_lease_from_before_the_range_moved_is_leased_anew(project: Path) -> None:
    """A lease taken in the ephemeral range (realstack's range once reached 49999) is given
    up even when nothing holds the port right now: the app's own outgoing connections can
    take it between the lease and its bind."""
    stack = load_stack(project, environ={"CACHE_PORT": "6400"})
    held = {"cache": {"var": "CACHE_PORT", "preferred": 6400, "port": 41104}}
    write_entry(stack.instance_id, held, {"cache": 41104})

    moved = leases.claim(load_stack(project, environ={"CACHE_PORT": "6400"}))

    assert leases.LOW <= moved.service("cache").port < leases.LOW + leases.SPAN


def test_a_claim_that_changes_nothing_leaves_the_entry_as_it_is(project: Path) -> None:
    """The entry is rewritten when what it says changes (here a port), not on every start:
    ``updated_at`` is when it last changed, as after a warm start (which writes nothing)."""
    stack = load_stack(project, environ={"CACHE_PORT": "6400"})
    leases.claim(stack)
    path = registry.home() / "instances" / f"{stack.instance_id}.json"
    first = path.read_text()

    leases.claim(stack)
    assert path.read_text() == first

    moved = load_stack(project, environ={"CACHE_PORT": "6500"})
    leases.claim(moved)
    assert json.loads(path.read_text())["ports"] == {"cache": 6500}
    assert json.loads(path.read_text())["updated_at"] >= json.loads(first)["updated_at"]


def fill_the_range(tmp_path: Path, index: int) -> list[Path]:
    """A stopped checkout in every block of the lease range, each leasing port ``index`` of
    its block (what a machine of many CI clones and worktrees comes to); the first one was
    stopped longest ago."""
    roots = []
    for block in range(leases.SPAN // leases.BLOCK):
        root = tmp_path / f"clone{block}"
        (root / ".realstack" / "test" / "services").mkdir(parents=True)
        (root / "pyproject.toml").write_text("[tool.realstack]\n" + MANIFEST)
        port = leases.LOW + block * leases.BLOCK + index
        held = {"cache": {"var": "CACHE_PORT", "preferred": 6400, "port": port}}
        instance_id = f"{block:08x}" + "0" * 56
        write_entry(instance_id, held, {"cache": port})
        entry_path = registry.home() / "instances" / f"{instance_id}.json"
        entry = json.loads(entry_path.read_text())
        entry.update(root=str(root), state_dir=str(root / ".realstack" / "test"))
        entry_path.write_text(json.dumps(entry))
        idle = 1_000_000.0 if block == 7 else 1000.0 + block  # clone7 stopped longest ago
        services = root / ".realstack" / "test" / "services"
        os.utime(services, (time.time() - idle, time.time() - idle))
        roots.append(root)
    holder = tmp_path / "holder"  # and the manifest's port is another checkout's
    holder.mkdir()
    (holder / "pyproject.toml").write_text("[tool.realstack]\n" + MANIFEST)
    assert (
        leases.claim(load_stack(holder, environ={"CACHE_PORT": "6400"})).service("cache").port
        == 6400
    )
    return roots


def test_a_full_range_hands_on_the_port_of_the_instance_stopped_longest_ago(
    project: Path, tmp_path: Path
) -> None:
    """Before, every start on such a machine fell back to the manifest's ports ("no free port
    left in realstack's lease range"), and three shards of one CI run collided there."""
    fill_the_range(tmp_path, index=0)
    given = leases.LOW + 7 * leases.BLOCK
    notes: list[str] = []

    ours = leases.claim(
        load_stack(project, environ={"CACHE_PORT": "6400"}),
        lambda name, event, text: notes.append(f"{name}: {text}"),
    )

    assert ours.service("cache").port == given
    assert notes == [
        f"cache: the lease range is full: took port {given} from the lease of "
        f"{tmp_path / 'clone7'} (env test, stopped 12d ago), whose next start leases another"
    ]
    clone7 = registry.entry(f"{7:08x}" + "0" * 56)
    assert clone7 is not None and "cache" not in clone7.lease  # its next start leases anew
    again = load_stack(project, environ={"CACHE_PORT": "6400"})
    assert again.service("cache").port == given  # and ours is kept, like any lease


def test_a_full_range_never_hands_on_a_running_instances_port(
    project: Path, tmp_path: Path
) -> None:
    roots = fill_the_range(tmp_path, index=0)
    for block, root in enumerate(roots):  # every one runs: a recorded container each
        paths = InstancePaths(root / ".realstack" / "test")
        instance_id = f"{block:08x}" + "0" * 56
        record = ContainerRecord("cache", instance_id, "docker", "c0ffee", "p", "cache", 1)
        Records(paths, instance_id).write(record)

    moved = leases.claimed(load_stack(project, environ={"CACHE_PORT": "6400"}), _no_progress)

    assert moved[0].service("cache").port == 6400  # the manifest's, as said in a note
    assert moved[1] is False


def _no_progress(name: str, event: object, text: str) -> None:
    assert "lease range" in text, text


def test_a_full_range_hands_on_no_port_of_an_instance_whose_start_is_under_way(
    project: Path, tmp_path: Path
) -> None:
    """A start leases under its instance lock, then binds: the port it leased is not free
    for the taking meanwhile, however long that instance was stopped before."""
    roots = fill_the_range(tmp_path, index=0)
    starting = FileLock(InstancePaths(roots[7] / ".realstack" / "test").lock)

    with starting:
        ours = leases.claim(load_stack(project, environ={"CACHE_PORT": "6400"}))

    assert ours.service("cache").port == leases.LOW + 119 * leases.BLOCK  # the next longest

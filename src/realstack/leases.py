"""Ports that are stable, free and reserved: many checkouts of one project on one machine.

The manifest's ports are each service's *preferred* port. A start, under the machine-wide
lock, keeps the preferred port unless another instance whose checkout exists holds it; then
it picks one from a block derived from a hash of the instance id, probed free, and records it
in the instance's lease (:mod:`realstack.registry`). A port held by something that is no
realstack instance is still refused (PortInUse): realstack does not guess around strangers.
A service that runs keeps its port, and so does a stopped one that a running service of the
instance depends on (an outage's restore): that dependent was given its address. Every later
load of the same instance applies the lease — as long as the manifest still
prefers what it preferred then (a port the user changes on purpose wins) — so URLs do not
move between restarts. Only ports that come from one ``${VAR}`` are leased (the variable is
set, so compose files publish the same port); a literal port is the manifest's to manage.
When the range is full, the instance stopped longest ago hands on a port (:mod:`.lease_handover`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from realstack import graph, registry
from realstack.fields import interpolate
from realstack.lease_handover import hand_on
from realstack.model import Service, Stack
from realstack.operation import OPERATION
from realstack.project import ROOT
from realstack.results import Event, Progress

_VAR_PORT = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}$")
# leased ports: 20000-31999, a block of 100 per instance; below the kernel's ephemeral range
# (Linux 32768-60999, elsewhere 49152+), where any socket bound to port 0 (a test's server, a
# docker publish) could take a leased port between the lease and the bind, or between starts
LOW, SPAN, BLOCK = 20000, 12000, 100


AUTO = "auto"
AUTO_PREFIX = "REALSTACK_PORT_"  # the variable an ``auto`` port becomes


def auto_variable(name: str) -> str:
    """The variable that carries service ``name``'s ``auto`` port (compose files can use it)."""
    return AUTO_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def block_port(instance_id: str, index: int, step: int = 0) -> int:
    """Port ``index`` of this instance's block (``step``: of the block that many further)."""
    blocks = SPAN // BLOCK
    return LOW + ((int(instance_id[:8], 16) + step) % blocks) * BLOCK + index


def with_auto_ports(
    table: Mapping[str, Any], variables: Mapping[str, str], instance_id: str
) -> tuple[Mapping[str, Any], dict[str, str]]:
    """``port = "auto"`` is a leased port with no preference of the manifest's: the service's
    port becomes ``${REALSTACK_PORT_<NAME>}``, preferring its place in this instance's block
    (stable across loads, and across restarts through the lease), unless the variable is set.
    """
    services = table.get("services")
    if not isinstance(services, dict) or not any(
        isinstance(raw, dict) and raw.get("port") == AUTO for raw in services.values()
    ):
        return table, dict(variables)
    out, rewritten = dict(variables), dict(services)
    for index, (name, raw) in enumerate(services.items()):
        if isinstance(raw, dict) and raw.get("port") == AUTO:
            var = auto_variable(str(name))
            rewritten[name] = {**raw, "port": f"${{{var}}}"}
            out.setdefault(var, str(block_port(instance_id, index)))
    return {**table, "services": rewritten}, out


def port_variable(raw: object) -> str | None:
    """``VAR`` when a service's port is exactly ``${VAR}`` / ``${VAR:-default}``."""
    port = raw.get("port") if isinstance(raw, dict) else None
    match = _VAR_PORT.match(port) if isinstance(port, str) else None
    return match.group(1) if match else None


def port_setting(stack: Stack, svc: Service) -> str:
    """Where a user sets ``svc``'s port: ``POSTGRES_PORT in envs/test.env or the environment``
    when it is a variable, else the manifest's key (for a message that says which to change)."""
    services = stack.table.get("services")
    var = port_variable(services.get(svc.name) if isinstance(services, dict) else None)
    if var is None:
        return f"{ROOT}.services.{svc.name}.port in pyproject.toml"
    return f"{var} in envs/{stack.env}.env or the environment"


def _preferred(raw: object, variables: Mapping[str, str], name: str) -> int | None:
    try:
        port = raw.get("port") if isinstance(raw, dict) else None
        return int(str(interpolate(port, variables, f"services.{name}.port")))
    except Exception:  # noqa: BLE001 - a bad port is the manifest's error to report, not ours
        return None


def apply(
    services: Mapping[str, Any], variables: Mapping[str, str], instance_id: str
) -> dict[str, str]:
    """``variables`` with this instance's leased ports set, where the manifest still prefers
    the port it preferred when the lease was taken."""
    known = registry.entry(instance_id)
    if known is None or not known.lease:
        return dict(variables)
    out = dict(variables)
    for name, held in known.lease.items():
        raw = services.get(name)
        var = port_variable(raw)
        if var is None or var != held.get("var"):
            continue
        if _preferred(raw, variables, name) == held.get("preferred"):
            out[var] = str(held["port"])
    return out


def _pick(instance_id: str, index: int, host: str, taken: set[int]) -> int | None:
    """The first free, unleased port of this instance's block (then the next blocks)."""
    from realstack import ports  # noqa: PLC0415 - psutil: only a start that moves pays for it

    for step in range(SPAN // BLOCK):
        port = block_port(instance_id, index, step)
        if port not in taken and not ports.answers(host, port):
            return port
    return None  # the range is full of leases


def _auto(stack: Stack, var: str, index: int) -> bool:
    """Whether ``var`` carries an ``auto`` port that nobody chose (set to another port on
    purpose, it is held to like any chosen port)."""
    return var.startswith(AUTO_PREFIX) and stack.given.get(var) == str(
        block_port(stack.instance_id, index)
    )


def _lost(stack: Stack, svc: Service) -> bool:
    """Whether a port realstack chose is no good any more: outside the lease range (a lease
    from before the range moved below the ephemeral ports), or answering for something else.
    realstack chose it, so it chooses again rather than refuse the start with PortInUse. An
    orphan of the service itself (its record lost, its workers still listening) is no one
    else: the start clears it and keeps the port, and with it the contract's URLs."""
    if not LOW <= svc.port < LOW + SPAN:
        return True
    from realstack import ports, process_scan  # noqa: PLC0415 - psutil: a start that moves

    if not ports.answers(svc.host, svc.port):
        return False
    marks = process_scan.service_marks(stack.state_dir, stack.instance_id, svc.name)
    return not ports.held_by(svc.port, marks)


def registers(stack: Stack) -> bool:
    """Whether :func:`claim` records ``stack`` in the machine's registry (a deployed stack, or
    one built without a manifest table, has nothing to lease)."""
    return not stack.deployed and bool(stack.table)


def claim(stack: Stack, progress: Progress | None = None) -> Stack:
    """Lease ``stack``'s ports (see the module); the stack built with them, and its entry in
    the machine's registry written (see :func:`registers`). A port handed on from a stopped
    instance (the range full: :mod:`realstack.lease_handover`) is told to ``progress``."""
    if not registers(stack):
        return stack
    services = stack.table.get("services", {})
    leasable = any(s.port and port_variable(services.get(s.name)) for s in stack.services)
    # this instance's own records, read before the machine-wide lock (which guards leases,
    # not them): every start of the machine waits while it is held
    running = registry.running_ports(stack.state_dir, stack.instance_id, stack.names)
    with registry.lock():
        others = [  # nothing to lease (every port written out): nobody else's entry matters
            e
            for e in (registry.entries() if leasable else ())
            if e.instance_id != stack.instance_id and e.checkout_exists
        ]

        # a running instance's ports are held outright; a stopped one's lease yields to a
        # service of ours that already runs on the port (a lease lost, or from before leases).
        # Asked only when it decides something: it reads every other instance's records.
        @functools.cache
        def live() -> frozenset[int]:
            return frozenset(
                p for e in others if registry.state_of(e) == "running" for p in e.ports.values()
            )

        taken = {p for e in others for p in e.ports.values()}
        mine = set(running.values()) | {
            s.port for s in stack.services if s.port and port_variable(services.get(s.name)) is None
        }
        taken |= mine
        lease: dict[str, dict[str, str | int]] = {}
        for index, svc in enumerate(stack.services):
            var = port_variable(services.get(svc.name))
            if not svc.port or var is None:
                continue
            now = running.get(svc.name)
            preferred = _preferred(services.get(svc.name), stack.given, svc.name) or svc.port
            # a port realstack chose (a lease; an auto port nobody set) is chosen again when
            # lost; the manifest's preferred port, taken by a stranger, stays PortInUse
            chosen = svc.port != preferred or _auto(stack, var, index)
            busy = svc.port in taken or (chosen and now != svc.port and _lost(stack, svc))
            keep = now  # where it runs; stopped, where what runs and depends on it calls it
            if (
                keep is None
                and running
                and any(d.name in running for d in graph.dependents(stack.services, svc.name))
            ):
                keep = svc.port
            if busy and keep is not None and keep not in live():
                port = keep  # rather than move it under what uses it
            elif busy:
                port = _pick(stack.instance_id, index, svc.host, taken | mine) or hand_on(
                    others, live() | mine, svc, range(LOW, LOW + SPAN), progress
                )
            else:
                port = svc.port
            taken.add(port)
            mine.add(port)
            lease[svc.name] = {"var": var, "preferred": preferred, "port": port}
        held = {s.name: s.port for s in stack.services if s.port}
        held.update({name: int(info["port"]) for name, info in lease.items()})
        why = registry.note(stack, lease, held)  # under the lock: the next claimer sees them
        if why is not None:
            raise OSError(why)
    if all(stack.service(name).port == info["port"] for name, info in lease.items()):
        return stack
    from realstack.manifest import build_stack  # noqa: PLC0415 - manifest imports this module

    return build_stack(
        stack.table, root=stack.root, env=stack.env, variables=stack.given, instance=stack.instance
    )


def claimed(stack: Stack, progress: Progress) -> tuple[Stack, bool]:
    """``stack`` with its ports leased (:func:`claim`; the same again for a
    stack already claimed), and whether its registry entry was written with them. The
    registry is advisory: when it cannot be used, the manifest's ports, and a note saying
    why."""
    try:
        taken = claim(stack, progress)
    except OSError as exc:
        progress(OPERATION, Event.NOTE, f"ports not leased ({exc}); the manifest's are used")
        return stack, False
    for svc in taken.services:  # a port that moved now: said, or URLs change silently
        if svc.port != (was := stack.service(svc.name).port) and stack.enabled(svc):
            why = _holder(stack, was)
            progress(svc.name, Event.NOTE, f"port {was} is {why}; leased {svc.port} for this one")
    return taken, registers(stack)


def _holder(stack: Stack, port: int) -> str:
    """Who has ``port``: another checkout's lease (a running one first, then a stopped one;
    a gone checkout's holds nothing, as :func:`claim` reads it), else a process."""
    holders = [
        (registry.state_of(e), e)
        for e in registry.entries()
        if e.instance_id != stack.instance_id and e.checkout_exists and port in e.ports.values()
    ]
    if not holders:
        return "in use by a process that is no realstack checkout's"
    state, entry = min(holders, key=lambda held: held[0] != "running")  # running first
    free = "; `invoke services.prune --stopped` frees it" if state == "stopped" else ""
    return f"leased by {entry.root} (env {entry.env}, {state}{free})"

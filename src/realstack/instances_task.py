"""``services.list`` and ``services.prune``: the machine's instances, seen and cleaned from
any checkout (see :mod:`realstack.registry`)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from realstack import registry
from realstack.cli_support import ProgressLines, current_secrets, friendly, print_failures
from realstack.errors import LockTimeout

_LISTED = ("running", "stopped", "checkout gone")


@task(name="list", help={"json_": "machine-readable output"})
@friendly
def list_instances(c: Context, json_: bool = False) -> None:
    """Every realstack instance of this machine: checkout, env, ports, running/stopped/gone."""
    rows = [(e, registry.state_of(e)) for e in registry.entries()]
    # what runs first, then by checkout: the same machine lists the same way every time
    rows.sort(key=lambda row: (_LISTED.index(row[1]), row[0].root, row[0].env))
    if json_:
        print(json.dumps([{**asdict(e), "state": st} for e, st in rows], indent=2))
        return
    table = [("INSTANCE", "ENV", "STATE", "PORTS", "CHECKOUT")]
    for e, st in rows:
        ports = ",".join(f"{k}={v}" for k, v in e.ports.items()) or "-"
        table.append((e.instance_id[:12], e.env, st, ports, e.root))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    if not rows:
        print(f"(no instance has run here; registry: {registry.home()})")


@task(
    name="prune",
    help={"stopped": "also free the ports leased to stopped instances (their next start leases)"},
)
@friendly
def prune(c: Context, stopped: bool = False) -> None:
    """Stop and forget the instances whose checkout is gone; --stopped frees stopped ones' ports.

    Only what their records prove is stopped. ``--stopped``: the ports of stopped instances
    too, for the manifest's ports to be had."""
    from realstack import salvage  # noqa: PLC0415 - the stop machinery: for this task only

    gone = [e for e in registry.entries() if not e.checkout_exists]
    failed = False
    for entry in gone:
        print(f"{entry.instance_id[:12]} [{entry.env}] checkout gone: {entry.root}")
        progress = ProgressLines(current_secrets())
        report = salvage.stop_gone(entry.stack(), list(entry.ports), progress=progress)
        if report.ok:
            registry.forget(entry.instance_id)
        else:
            failed = True
            print_failures(report)
    freed = f"; {_release_stopped()} stopped instance(s) freed their ports" if stopped else ""
    print(f"✓ {len(gone)} pruned{freed}" if not failed else "✗ some could not be stopped; kept")
    if failed:
        raise Exit(code=1)


def _release_stopped() -> int:
    """Free the ports every stopped instance holds (none whose start holds its lock): a
    stopped checkout keeps its ports for stable URLs, so a new one gets others than its env
    file says. Each one's next start leases again, and says where it moved."""
    from realstack import lease_handover  # noqa: PLC0415
    from realstack.status import duration  # noqa: PLC0415

    freed = 0
    try:
        lock = registry.lock()
        lock.acquire()  # as a start leases: none starts between the look and the rewrite
    except OSError as exc:  # filelock's Timeout is one
        raise LockTimeout(f"the port registry ({registry.home()}) stayed locked: {exc}") from None
    try:
        for entry in lease_handover.idle_stopped(registry.entries()):
            names = sorted({*entry.ports, *entry.lease})
            if not names:
                continue
            ports = sorted(entry.ports.get(n) or int(entry.lease[n]["port"]) for n in names)
            ago = duration(time.time() - lease_handover.stopped_since(entry))
            registry.release(entry, *names)
            freed_ports = ", ".join(map(str, ports))
            print(f"{entry.instance_id[:12]} [{entry.env}] stopped {ago} ago: freed {freed_ports}")
            print(f"  {entry.root}")
            freed += 1
    finally:
        lock.release()
    return freed

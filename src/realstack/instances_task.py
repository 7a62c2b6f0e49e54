"""``services.list`` and ``services.prune``: the machine's instances, seen and cleaned from
any checkout (see :mod:`realstack.registry`)."""

from __future__ import annotations

import json
from dataclasses import asdict

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from realstack import registry
from realstack.cli_support import ProgressLines, current_secrets, friendly, print_failures


@task(name="list", help={"json_": "machine-readable output"})
@friendly
def list_instances(c: Context, json_: bool = False) -> None:
    """Every realstack instance of this machine: checkout, env, ports, running/stopped/gone."""
    rows = [(e, registry.state_of(e)) for e in registry.entries()]
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


@task(name="prune")
@friendly
def prune(c: Context) -> None:
    """Stop and forget the instances whose checkout is gone (only what their records prove)."""
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
    print(f"✓ {len(gone)} pruned" if not failed else "✗ some could not be stopped; kept")
    if failed:
        raise Exit(code=1)

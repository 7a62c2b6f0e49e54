"""``services.status`` as a table for people: one row per service, secrets masked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from realstack.cli_support import say

if TYPE_CHECKING:
    from realstack.status import ServiceStatus


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _ident(row: ServiceStatus) -> str:
    """The PID column: a process's pid, a container's short id."""
    if row.pid is not None:
        return str(row.pid)
    return row.container[:12] if row.container else "-"


def masked(row: ServiceStatus) -> ServiceStatus:
    """A status row without secrets in its free text (health, owner)."""
    return replace(
        row,
        health=say(row.health),
        owner=say(row.owner) if row.owner is not None else None,
    )


def table(env: str, state_dir: Path, rows: list[ServiceStatus]) -> list[str]:
    """The lines ``services.status`` prints: a header naming the instance, the aligned rows
    (HEALTH last, unpadded), then each server's version."""
    cells = [("SERVICE", "PROVIDER", "STATE", "PID", "PORT", "UPTIME", "HEALTH")]
    for r in rows:
        health = r.health + (f" ({r.owner})" if r.owner else "")
        port = str(r.port) if r.kind != "task" and r.port else "-"
        state = r.state if r.kind != "task" or r.state != "down" else "task"
        cells.append((r.name, r.provider, state, _ident(r), port, _uptime(r.uptime), health))
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]) - 1)]
    lines = [f"realstack [{env}] {state_dir}"]
    for row in cells:
        padded = (cell.ljust(w) for cell, w in zip(row, widths, strict=False))
        lines.append("  ".join(padded) + "  " + row[-1])
    lines += [f"  {r.name}: {r.server}" for r in rows if r.server]
    return lines


def not_healthy(rows: list[ServiceStatus]) -> list[str]:
    """For ``services.status --check``: each row a start would leave otherwise, as
    ``name (state: health)``. A service must be ours (or a deployed env's) and healthy, a
    task completed; one of a profile that is not enabled is not asked for."""
    bad = []
    for r in rows:
        if r.health.startswith("profile ") and r.health.endswith(" not enabled"):
            continue
        if r.kind == "task":
            ok = r.health.startswith("completed ")
        else:
            ok = r.state in ("ours", "deployed") and r.health == "healthy"
        if not ok:
            bad.append(f"{r.name} ({r.state}: {r.health})")
    return bad

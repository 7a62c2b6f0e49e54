"""The counts per mode and the table they are printed as.

Failures (what makes chaos exit 1) and information (window hits, refusals) share one row per
mode, so a run reads at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Tally:
    """One mode's counts (HEADINGS names them, in the table's order)."""

    rounds: int = 0
    orphans: int = 0
    ports: int = 0
    containers: int = 0
    failed_cmds: int = 0
    failed_restarts: int = 0
    foreign: int = 0
    lost: int = 0
    tracebacks: int = 0
    hits: int = 0
    refusals: int = 0
    seconds: float = 0.0

    def add(self, other: Tally) -> None:
        for f in fields(Tally):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def failed(self) -> bool:
        """Whether any count that is a failure is nonzero."""
        return any(getattr(self, f) for f in FAILURES)


HEADINGS = {
    "rounds": "rounds",
    "orphans": "orphans left",
    "ports": "ports bound",
    "containers": "containers left",
    "failed_cmds": "failed stops",
    "failed_restarts": "failed restarts",
    "foreign": "foreign signals",
    "lost": "ownership lost",
    "tracebacks": "tracebacks",
    "hits": "window hits",
    "refusals": "refusals",
    "seconds": "s/round",
}
INFORMATION = ("rounds", "hits", "refusals", "seconds")  # counted, never a failure
FAILURES = tuple(name for name in HEADINGS if name not in INFORMATION)


def print_table(tallies: dict[str, Tally]) -> Tally:
    """Print a row per mode and their total; return the total."""
    widths = {n: max(len(heading), 6) for n, heading in HEADINGS.items()}
    print(f"\n{'mode':<16}" + "  ".join(HEADINGS[n].rjust(widths[n]) for n in HEADINGS))
    total = Tally()
    for mode, tally in tallies.items():
        total.add(tally)
        print(_row(mode, tally, widths))
    print(_row("total", total, widths))
    return total


def _row(mode: str, tally: Tally, widths: dict[str, int]) -> str:
    cells = []
    for name, width in widths.items():
        value = getattr(tally, name)
        if name == "seconds":
            value = f"{value / tally.rounds:.1f}" if tally.rounds else "-"
        cells.append(str(value).rjust(width))
    return f"{mode:<16}" + "  ".join(cells)

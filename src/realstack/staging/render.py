"""The report as people and machines read it. Secrets are the caller's to mask (tasks do it
for every line); URLs are already redacted in the rows."""

from __future__ import annotations

import json
from collections.abc import Iterator

from realstack.staging.run import Report
from realstack.staging.verdict import LEVELS, Row

HEADER = (
    "TARGET", "URL", "ADDRESS", "DNS", "CONN", "TLS", "TTFB", "TOTAL",
    "STATUS", "CHECK", "CERT", "IDENTITY", "TOKEN", "VERDICT",
)  # fmt: skip


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _status(row: Row) -> str:
    if row.status is None:
        return "-" if row.expected_status is None else f"-/{row.expected_status}"
    if row.status == row.expected_status or row.expected_status is None:
        return str(row.status)
    return f"{row.status}/{row.expected_status}"


def _cert(row: Row) -> str:
    if row.cert_host_match is False:
        return "host mismatch"
    if row.cert_days_left is None:
        return "-"
    return f"{row.cert_days_left}d host ok"


def _cells(row: Row) -> tuple[str, ...]:
    address = f"{row.address} {row.family}" if row.address else "-"
    identity = " ".join(f"{k}={v}" for k, v in row.identity.items()) or "-"
    return (
        row.target,
        row.url or "-",
        address,
        _ms(row.dns_ms),
        _ms(row.connect_ms),
        _ms(row.tls_ms),
        _ms(row.first_byte_ms),
        _ms(row.total_ms),
        _status(row),
        row.check or "-",
        _cert(row),
        identity,
        row.token or "-",
        row.verdict,
    )


def render_table(report: Report) -> Iterator[str]:
    """Aligned columns (times in ms; STATUS is got/expected when they differ), each checked
    row's notes indented under it."""
    cells = [_cells(r) for r in report.rows]
    widths = [max(len(line[i]) for line in (HEADER, *cells)) for i in range(len(HEADER))]
    yield f"realstack [{report.env}] staging check ({report.seconds:.2f}s)"
    yield "  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True)).rstrip()
    for row, line in zip(report.rows, cells, strict=True):
        yield "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for note in row.notes if row.offered else ():
            yield f"    {row.target}: {note}"


def summary(report: Report) -> str:
    """``staging: 3 ok, 1 degraded, 1 fail (exit 1)``."""
    counts = report.counts()
    parts = [f"{counts.get('ok', 0)} ok"]
    parts += [f"{counts[k]} {k}" for k in (*LEVELS[1:], "not offered") if counts.get(k)]
    return f"{report.env}: {', '.join(parts)} (exit {report.exit_code})"


def _rounded(value: object) -> object:
    return round(value, 1) if isinstance(value, float) else value


def render_json(report: Report) -> str:
    """Every row's fields (times as numbers of ms), the counts and the overall verdict."""
    rows = [{k: _rounded(v) for k, v in r.as_json().items()} for r in report.rows]
    data = {
        "env": report.env,
        "verdict": report.verdict,
        "exit_code": report.exit_code,
        "counts": report.counts(),
        "seconds": round(report.seconds, 3),
        "targets": rows,
    }
    return json.dumps(data, indent=2)

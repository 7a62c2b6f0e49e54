"""``invoke staging.check``: is the deployed env there, the one we mean, and healthy?

One row per target (each offered service's URL, each WebSocket URL), with where it resolved,
how long each step took, what it answered, its certificate, its identity and whether it
takes the test token; a verdict per row and one for the whole env.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from realstack.staging.render import render_json, render_table, summary
    from realstack.staging.run import Report, check
    from realstack.staging.verdict import Row

__all__ = ["Report", "Row", "check", "render_json", "render_table", "summary"]

# Loaded on first use: invoke imports ``realstack.staging.task`` (and so this package) for every
# command, and the checks' clients (ssl, sockets, stores) are for ``staging.check`` alone.
_LAZY = {
    "render_json": "realstack.staging.render",
    "render_table": "realstack.staging.render",
    "summary": "realstack.staging.render",
    "Report": "realstack.staging.run",
    "check": "realstack.staging.run",
    "Row": "realstack.staging.verdict",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'realstack.staging' has no attribute {name!r}")

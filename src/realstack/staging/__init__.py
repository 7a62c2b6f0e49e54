"""``invoke staging.check``: is the deployed env there, the one we mean, and healthy?

One row per target (each offered service's URL, each WebSocket URL), with where it resolved,
how long each step took, what it answered, its certificate, its identity and whether it
takes the test token; a verdict per row and one for the whole env.
"""

from realstack.staging.render import render_json, render_table, summary
from realstack.staging.run import Report, check
from realstack.staging.verdict import Row

__all__ = ["Report", "Row", "check", "render_json", "render_table", "summary"]

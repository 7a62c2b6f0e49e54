"""A service that never becomes ready: the failure shows what it said, not the probe's noise."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Project, free_port
from realstack.errors import ProbeTimeout

pytestmark = pytest.mark.integration

SERVERS = Path(__file__).with_name("_servers.py")


def test_the_tail_of_a_never_ready_app_keeps_its_own_lines_not_the_probes_requests(
    project: Project,
) -> None:
    """Polled for 2 s, it logs ~30 ``"GET /health" 503`` lines after the one that says why:
    before, the 20-line tail held only those, and the reason was pushed out."""
    project.write(
        f"""
[tool.realstack.services.web]
kind = "process"
port = {free_port()}
command = ["{{python}}", "{SERVERS}", "unready", "{{port}}"]
probe = {{ kind = "http", path = "/health" }}
startup_timeout = 2
"""
    )
    [result] = project.start().results

    assert isinstance(result.error, ProbeTimeout), result.error
    tail = result.error.log_tail
    assert "startup: cache warm-up failed (no CACHE_URL); serving 503" in tail
    assert not any("GET /health " in line for line in tail[:-1]), tail
    assert tail[-1].endswith("lines of the probe's own GET /health left out)"), tail

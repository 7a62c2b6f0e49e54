"""An app that listens on another port than the manifest's is named as such, not only timed
out: the message says where realstack's own child listens."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Project
from integration._support import distinct_free_ports
from realstack.errors import ProbeTimeout

pytestmark = pytest.mark.integration

SERVERS = Path(__file__).with_name("_servers.py")


def test_a_child_listening_elsewhere_is_named_in_the_error(project: Project) -> None:
    manifest, actual = distinct_free_ports(2)
    project.write(
        f"""
[tool.realstack.services.app]
kind = "process"
port = {manifest}
command = ["{{python}}", "{SERVERS}", "health", "{actual}"]
probe = {{ kind = "http", path = "/health" }}
startup_timeout = 3
"""
    )

    report = project.start()

    error = report.errors[0]
    assert isinstance(error, ProbeTimeout)
    assert f"its process listens on 127.0.0.1:{actual}, not on port {manifest}" in str(error)

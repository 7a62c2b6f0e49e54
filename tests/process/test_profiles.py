"""A start's environment: processes see the exports of every service started with them,
whatever its profiles (as a dependency, or named in ``only``), as runtime.env does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integration._support import distinct_free_ports
from realstack import orchestrator
from realstack.manifest import build_stack

pytestmark = pytest.mark.process

SVC_SCRIPT = Path(__file__).with_name("svc.py")


@pytest.mark.parametrize(
    ("consumer_profiles", "only"),
    [((), None), (("analytics",), ["consumer"])],
    ids=["dependency-of-an-enabled-service", "named-in-only"],
)
def test_a_process_sees_the_exports_of_the_profile_services_started_with_it(
    tmp_path: Path, consumer_profiles: tuple[str, ...], only: list[str] | None
) -> None:
    """A process started together with a service whose profile is off (as its dependency,
    or because it was named) finds that service in its environment, as runtime.env does."""
    sidecar_port, consumer_port = distinct_free_ports(2)
    env_out = tmp_path / "consumer-env.json"
    services = {
        "sidecar": {
            "kind": "process",
            "port": sidecar_port,
            "profiles": ["analytics"],
            "command": ["{python}", str(SVC_SCRIPT), "--port", "{port}"],
            "exports": {"SIDECAR_URL": "{url}"},
        },
        "consumer": {
            "kind": "process",
            "port": consumer_port,
            "profiles": list(consumer_profiles),
            "depends_on": ["sidecar"],
            "command": ["{python}", str(SVC_SCRIPT), "--env-out", str(env_out), "--port", "{port}"],
        },
    }
    stack = build_stack({"services": services}, root=tmp_path, env="test", variables={})
    try:
        report = orchestrator.start(stack, only=only)
        assert [(r.name, r.action) for r in report.results] == [
            ("sidecar", "started"),
            ("consumer", "started"),
        ]
        seen = json.loads(env_out.read_text())
    finally:
        orchestrator.stop(stack).raise_for_errors()
    assert seen.get("SIDECAR_URL") == f"http://localhost:{sidecar_port}"

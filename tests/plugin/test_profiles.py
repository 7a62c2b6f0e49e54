"""A strict test that names no services needs the ones a plain ``services.start`` brings up:
those without a profile and those of the active profiles, never the rest."""

from __future__ import annotations

import pytest

from conftest import Project, free_port
from plugin.conftest import INNER_FLAGS, Inner

# cache: always on; reports: on through REALSTACK_PROFILES in the env file; search: off.
MANIFEST = """
[tool.realstack.services.cache]
kind = "redis"
port = "${CACHE_PORT}"

[tool.realstack.services.reports]
kind = "process"
port = "${REPORTS_PORT}"
command = ["{python}", "-c", "pass"]
profiles = ["reports"]

[tool.realstack.services.search]
kind = "process"
port = "${SEARCH_PORT}"
command = ["{python}", "-c", "pass"]
profiles = "search, analytics"
exports = {SEARCH_URL = "{url}", SEARCH_TOKEN = "never-shown"}
"""


def test_a_test_without_requires_needs_only_the_enabled_services(
    pytester: pytest.Pytester,
    project: Project,
    inner_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing runs: the session stops naming cache and reports; search, whose profiles are
    off, is not required and not named."""
    monkeypatch.delenv("REALSTACK_PROFILES", raising=False)
    ports: list[int] = []
    while len(ports) < 3:
        if (port := free_port()) not in ports:
            ports.append(port)
    names = ("CACHE_PORT", "REPORTS_PORT", "SEARCH_PORT")
    env = {name: str(port) for name, port in zip(names, ports, strict=True)}
    project.write(MANIFEST, {**env, "REALSTACK_PROFILES": "reports"})
    inner = Inner(pytester, project)
    inner.write("e2e/test_anything.py", "def test_anything():\n    pass\n")
    result = inner.run()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*realstack: required services of env 'test' are not healthy:*",
            f"*✗ cache: probe redis PING on port {ports[0]}: *",
            f"*✗ reports: probe tcp connect on port {ports[1]}: *",
            "Start them with `invoke services.start --wait --env test`*",
        ]
    )
    result.stdout.no_fnmatch_line("*✗ search*")
    result.assert_outcomes()


def test_the_header_lists_the_enabled_services_and_hides_secret_values(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exports whose names contain PASSWORD, SECRET, TOKEN or KEY show as ``***`` (empty stays
    empty); a service whose profiles are off is not listed."""
    monkeypatch.delenv("REALSTACK_PROFILES", raising=False)
    monkeypatch.delenv("REALSTACK_ENV", raising=False)
    secrets = {
        "CACHE_PASSWORD": "pw-1",
        "CACHE_SECRET": "s3-2",
        "CACHE_TOKEN": "tok-3",
        "CACHE_API_KEY": "key-4",
    }
    exports = {**secrets, "CACHE_KEYRING": "kr-5", "CACHE_HOST": "visible", "CACHE_EMPTY_TOKEN": ""}
    table = "{" + ", ".join(f'{k} = "{v}"' for k, v in exports.items()) + "}"
    manifest = MANIFEST.replace(
        'port = "${CACHE_PORT}"', f'port = "${{CACHE_PORT}}"\nexports = {table}'
    )
    env = {"CACHE_PORT": "6391", "REPORTS_PORT": "8093", "SEARCH_PORT": "8094"}
    project.write(manifest, {**env, "REALSTACK_PROFILES": "reports"})
    config = pytester.parseconfigure(f"--realstack-root={project.root}", *INNER_FLAGS)
    run = config.pluginmanager.get_plugin("realstack-project-run")
    assert run is not None
    lines = run.pytest_report_header(config)
    assert lines[0] == f"realstack: env test ({project.state})"
    assert lines[1:] == [
        f"  REALSTACK_INSTANCE_ID={project.stack().instance_id}",
        "  REDIS_URL=redis://localhost:6391/0",
        "  REDIS_SERVICE_URL=redis://localhost:6391/0",
        *(f"  {name}=***" for name in secrets),
        "  CACHE_KEYRING=***",
        "  CACHE_HOST=visible",
        "  CACHE_EMPTY_TOKEN=",
    ]

"""``invoke staging.check`` against a deployed stack made of real HTTPS servers.

Each fault test points one URL of the env at a faulty server (``_staging_support.fault``)
and expects that row, and only that row, to say so, with the exit code that follows. Every
run asserts that neither the token nor a password reaches stdout or stderr.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from integration._staging_support import (
    DB_PASSWORD,
    SERVICES,
    TOKEN,
    closed_port,
    environment,
    fault,
    https,
    rows_of,
    staging_check,
)
from integration.test_cli import INVOKE, clean_environ, failed_cleanly, succeeded

pytestmark = pytest.mark.integration
pytest_plugins = ["integration._staging_fixtures"]  # the servers, the CA, the project


def test_a_healthy_deployment_is_all_ok(
    deployed: Path, tls_ports: dict[str, int], ca_bundle: Path
) -> None:
    done = succeeded(staging_check(deployed, environment(tls_ports, ca_bundle)))

    lines = done.stdout.splitlines()
    for name in SERVICES:
        (line,) = [ln for ln in lines if ln.startswith(f"{name}  ")]
        assert line.split()[-1] == "ok", done.stdout
    assert any(ln.startswith("postgres") and ln.endswith("not offered") for ln in lines)
    assert lines[-1] == "staging: 3 ok, 2 not offered (exit 0)"


def test_json_says_the_same_with_numbers_as_numbers(
    deployed: Path, tls_ports: dict[str, int], ca_bundle: Path
) -> None:
    done = succeeded(staging_check(deployed, environment(tls_ports, ca_bundle), "--json"))

    data = json.loads(done.stdout)
    rows = {row["target"]: row for row in data["targets"]}
    assert (data["verdict"], data["exit_code"]) == ("ok", 0)
    assert {n: rows[n]["verdict"] for n in SERVICES} == dict.fromkeys(SERVICES, "ok")
    backend = rows["backend"]
    assert (backend["address"], backend["family"]) == ("127.0.0.1", "IPv4")
    assert all(isinstance(backend[k], int | float) for k in ("dns_ms", "connect_ms", "tls_ms"))
    assert (backend["status"], backend["expected_status"], backend["token"]) == (
        200,
        200,
        "accepted",
    )
    assert backend["identity"] == {"env": "staging", "version": "1.4.2", "build": "b42"}
    assert backend["cert_days_left"] > 14 and backend["cert_host_match"] is True
    ws = rows["backend ws"]
    assert (ws["status"], ws["token"], ws["check"]) == (
        101,
        "accepted",
        "upgrade 101; first frame type=error",
    )
    assert rows["redis"]["verdict"] == "not offered" and rows["redis"]["offered"] is False


@pytest.mark.parametrize(
    ("name", "row", "verdict", "code", "says"),
    [
        ("down", "backend", "fail", 1, "connection refused"),
        ("unhealthy", "backend", "fail", 1, "HTTP 503 from /health (expected 200)"),
        ("slow", "backend", "degraded", 0, "slow: "),
        ("expiring", "auth", "degraded", 0, "certificate expires"),
        ("wronghost", "auth", "fail", 1, "mismatch, certificate is not valid for '127.0.0.1'"),
        ("wsrefuse", "backend ws", "fail", 1, "upgrade refused: HTTP 403"),
        # accepted, then close 1008 and the connection dropped at once
        ("slam", "backend ws", "fail", 1, "token rejected (close 1008: missing or invalid"),
        ("oldbuild", "backend", "fail", 1, "build is b41, expected b42"),
        ("unresolvable", "backend", "cannot-answer", 3, "DNS: "),
        ("silent", "auth", "cannot-answer", 3, "no answer within 2 s"),
        # TLS done, the upgrade never answered: the check still ends within its budget
        ("mute", "backend ws", "cannot-answer", 3, "upgrade: no answer within 2 s"),
    ],
)
def test_a_fault_shows_in_its_row_with_its_verdict_and_exit_code(
    deployed: Path,
    tls_ports: dict[str, int],
    ca_bundle: Path,
    name: str,
    row: str,
    verdict: str,
    code: int,
    says: str,
) -> None:
    done = staging_check(
        deployed,
        environment(tls_ports, ca_bundle, **fault(tls_ports, name)),
        "--json",
        timeout=2 if name in ("silent", "mute") else 10,
    )

    assert done.returncode == code, f"{done.stdout}\n{done.stderr}"
    rows = rows_of(done)
    assert rows[row]["verdict"] == verdict
    assert any(says in note for note in rows[row]["notes"]), rows[row]["notes"]
    others = {n: rows[n]["verdict"] for n in SERVICES if n != row}
    assert others == dict.fromkeys(others, "ok"), others
    if code:
        assert f"✗ {row}: " in failed_cleanly(done, code)


def test_a_rejected_token_fails_every_row_that_checks_it(
    deployed: Path, tls_ports: dict[str, int], ca_bundle: Path
) -> None:
    env = environment(tls_ports, ca_bundle, STAGING_TEST_JWT_TOKEN=TOKEN[::-1])

    done = staging_check(deployed, env, "--json")

    failed_cleanly(done, 1)
    rows = rows_of(done)
    for name in SERVICES:
        assert (rows[name]["verdict"], rows[name]["token"]) == ("fail", "rejected")
        assert any(n.startswith("token rejected") for n in rows[name]["notes"])
    assert TOKEN[::-1] not in done.stdout + done.stderr


def test_without_a_token_it_says_so_and_is_degraded(
    deployed: Path, tls_ports: dict[str, int], ca_bundle: Path
) -> None:
    env = environment(tls_ports, ca_bundle, STAGING_TEST_JWT_TOKEN="<unset>")

    done = succeeded(staging_check(deployed, env, "--json"))

    rows = rows_of(done)
    for name in SERVICES:
        assert (rows[name]["verdict"], rows[name]["token"]) == ("degraded", "not configured")


def test_the_table_names_the_failure_and_the_exit_code(
    deployed: Path, tls_ports: dict[str, int], ca_bundle: Path
) -> None:
    env = environment(tls_ports, ca_bundle, BACKEND_SERVICE_URL=https(tls_ports, "unhealthy"))
    env["WEBSOCKET_URL"] = f"wss://127.0.0.1:{tls_ports['backend']}/ws?token={TOKEN}"

    done = staging_check(deployed, env)

    failed_cleanly(done, 1)
    (line,) = [ln for ln in done.stdout.splitlines() if ln.startswith("backend  ")]
    assert "503/200" in line and line.endswith("fail")
    assert "/ws?token=***" in done.stdout
    assert done.stdout.splitlines()[-1] == "staging: 2 ok, 1 fail, 2 not offered (exit 1)"


def test_data_stores_are_checked_with_their_own_protocols(
    deployed: Path, tls_ports: dict[str, int], ca_bundle: Path, redis_port: int
) -> None:
    env = environment(
        tls_ports,
        ca_bundle,
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        DATABASE_URL=f"postgresql://app:{DB_PASSWORD}@127.0.0.1:{closed_port()}/app",
    )

    done = staging_check(deployed, env, "--json")

    failed_cleanly(done, 1)
    rows = rows_of(done)
    assert (rows["redis"]["verdict"], rows["redis"]["check"]) == ("ok", "PING → PONG")
    assert rows["postgres"]["verdict"] == "fail"
    assert rows["postgres"]["url"].startswith("postgresql://app:***@127.0.0.1:")


def test_an_env_that_is_not_deployed_is_a_usage_error(deployed: Path) -> None:
    done = subprocess.run(
        [INVOKE, "staging.check", "--env", "test"],
        cwd=deployed,
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert "not a deployed env" in failed_cleanly(done, 2)


def test_without_ssl_cert_file_only_the_system_cas_are_trusted(
    deployed: Path, tls_ports: dict[str, int], ca_bundle: Path
) -> None:
    env = environment(tls_ports, ca_bundle, SSL_CERT_FILE="<unset>")

    done = staging_check(deployed, env, "--json")

    failed_cleanly(done, 1)
    notes = rows_of(done)["auth"]["notes"]
    assert any("TLS: unable to get local issuer certificate" in n for n in notes), notes

"""Running ``invoke staging.check`` against the servers of ``_staging_fixtures``.

:func:`environment` points the env at the servers; :func:`fault` gives the overrides that
point one URL of it at a faulty one; :func:`staging_check` runs the command as a user runs it
and asserts that no secret reaches its output.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
from pathlib import Path
from typing import Any

from integration.test_cli import INVOKE, clean_environ

# JWT-shaped (what the reference services accept), unique to this run: it must never be printed.
TOKEN = ".".join(secrets.token_urlsafe(18) for _ in range(3))
DB_PASSWORD = "pw-" + secrets.token_hex(8)
SERVICES = ("auth", "backend", "backend ws")


def closed_port() -> int:
    """A port nothing listens on (the OS handed it out and it was closed again)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def https(ports: dict[str, int], name: str) -> str:
    return f"https://127.0.0.1:{ports[name]}"


def environment(ports: dict[str, int], ca: Path, **overrides: str) -> dict[str, str]:
    """The caller's environment, no staging settings of its own, pointed at our servers.

    A row is "slow" only past a minute: these servers answer in milliseconds, but a loaded CI
    machine must not turn an "ok" row degraded (the slow fault sets its own threshold)."""
    mine = ("STAGING_", "SSL_CERT_", "DATABASE_URL", "REDIS_URL", "WEBSOCKET_URL")
    env = {
        k: v
        for k, v in clean_environ().items()
        if not k.startswith(mine) and not k.endswith("_SERVICE_URL")
    }
    env.update(
        AUTH_SERVICE_URL=https(ports, "auth"),
        BACKEND_SERVICE_URL=https(ports, "backend"),
        WEBSOCKET_URL=f"wss://127.0.0.1:{ports['backend']}/ws",
        SSL_CERT_FILE=str(ca),
        STAGING_TEST_JWT_TOKEN=TOKEN,
        STAGING_SLOW_MS="60000",
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v != "<unset>"}


def staging_check(
    project: Path, env: dict[str, str], *args: str, timeout: float = 10
) -> subprocess.CompletedProcess[str]:
    """``invoke staging.check`` in the project, as a user runs it; no secret in any output.

    ``timeout`` is each target's budget: ample, unless a test is about running out of it."""
    done = subprocess.run(
        [INVOKE, "staging.check", "--env", "staging", "--timeout", f"{timeout:g}", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert TOKEN not in done.stdout + done.stderr
    assert DB_PASSWORD not in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return done


def rows_of(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    data = json.loads(done.stdout)
    return {row["target"]: row for row in data["targets"]}


def fault(ports: dict[str, int], name: str) -> dict[str, str]:
    """The env overrides that inject fault ``name``."""
    if name == "down":
        return {"BACKEND_SERVICE_URL": f"https://127.0.0.1:{closed_port()}"}
    if name in ("unhealthy", "oldbuild"):
        return {"BACKEND_SERVICE_URL": https(ports, name)}
    if name == "slow":
        # the server waits 2 s before it answers: always past 1.5 s, and the other rows
        # (milliseconds) have 1.5 s to spare
        return {"BACKEND_SERVICE_URL": https(ports, "slow"), "STAGING_SLOW_MS": "1500"}
    if name in ("expiring", "wronghost"):
        return {"AUTH_SERVICE_URL": https(ports, name)}
    if name == "wsrefuse":
        return {"WEBSOCKET_URL": f"wss://127.0.0.1:{ports['wsrefuse']}/ws"}
    if name == "silent":
        return {"AUTH_SERVICE_URL": https(ports, "silent")}
    if name in ("mute", "slam"):
        return {"WEBSOCKET_URL": f"wss://127.0.0.1:{ports[name]}/ws"}
    # unresolvable: a resolver that does not answer is given up on within 2 tries of 2 s
    return {"BACKEND_SERVICE_URL": "https://nowhere.invalid", "RES_OPTIONS": "timeout:2 attempts:2"}

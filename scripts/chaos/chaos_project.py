"""The throwaway project chaos drives: its manifest, ports, environment and CLI calls.

Each project is a directory with its own pyproject.toml and envs/test.env (OS-assigned ports),
so the real ``invoke services.*`` runs against it exactly as in a user's checkout.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realstack.manifest import load_stack
from realstack.providers.docker.compose import project_name
from realstack.state import InstancePaths

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.test.yml"
SERVICES = ("postgres", "redis", "web")
START_TIMEOUT = 180.0
STOP_TIMEOUT = 120.0
PORT_VARS = ("POSTGRES_PORT", "REDIS_PORT", "WEB_PORT")
CREDENTIALS = {"POSTGRES_USER": "chaos", "POSTGRES_PASSWORD": "chaos-pass", "POSTGRES_DB": "chaos"}
TRACEBACK = "Traceback (most recent call last)"

MANIFEST = """
[tool.realstack.services.postgres]
kind = "postgres"
port = "${POSTGRES_PORT}"
user = "${POSTGRES_USER}"
password = "${POSTGRES_PASSWORD}"
database = "${POSTGRES_DB}"
durable = false
startup_timeout = 60

[tool.realstack.services.redis]
kind = "redis"
port = "${REDIS_PORT}"
durable = false
startup_timeout = 30

[tool.realstack.services.web]
kind = "process"
port = "${WEB_PORT}"
command = ["{python}", "-m", "http.server", "--bind", "{host}", "{port}"]
depends_on = ["postgres", "redis"]
probe = { kind = "http", path = "/", status = 200 }
startup_timeout = 20
"""


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports the OS handed out (bind port 0)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in ports:
            ports.append(port)
    return ports


def invoke_argv(*args: str) -> list[str]:
    """``invoke`` as installed beside this interpreter (``python -m invoke`` otherwise)."""
    script = Path(sys.executable).parent / "invoke"
    if os.access(script, os.X_OK):
        return [str(script), *args]
    return [sys.executable, "-m", "invoke", *args]


def write_project(
    root: Path, provider: str, ports: list[int] | None, images: dict[str, str]
) -> None:
    """The manifest, tasks.py and envs/test.env in ``root`` (free ports unless given)."""
    header = f'[tool.realstack]\ndefault_env = "test"\nprovider = "{provider}"\n'
    header += f"compose_file = {json.dumps(str(COMPOSE_FILE))}\n"
    (root / "pyproject.toml").write_text(header + MANIFEST)
    (root / "tasks.py").write_text("from realstack.tasks import namespace as ns\n")
    (root / "envs").mkdir()
    chosen = ports or free_ports(len(PORT_VARS))
    values = {**dict(zip(PORT_VARS, map(str, chosen), strict=True)), **CREDENTIALS}
    values.update(images)
    (root / "envs" / "test.env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))


@dataclass
class Run:
    """One finished CLI call: exit code (``None``: killed at its timeout) and output."""

    code: int | None
    output: str
    seconds: float


@dataclass
class Project:
    """A throwaway realstack project with its state under ``state_base``."""

    root: Path
    state_base: Path
    provider: str
    log_offsets: dict[str, int] = field(default_factory=dict)

    def environ(self) -> dict[str, str]:
        """Ours, minus realstack's and the manifest's variables, plus the state dir."""
        skip = {*PORT_VARS, *CREDENTIALS}
        env = {k: v for k, v in os.environ.items() if not k.startswith("REALSTACK_")}
        env = {k: v for k, v in env.items() if k not in skip}
        return {**env, "REALSTACK_STATE_DIR": str(self.state_base)}

    @functools.cached_property
    def _loaded(self) -> tuple[str, InstancePaths, str, dict[str, int]]:
        stack = load_stack(self.root, "test", environ=self.environ())
        ports = {s.name: s.port for s in stack.services}
        return stack.instance_id, InstancePaths(stack.state_dir), project_name(stack), ports

    @property
    def instance_id(self) -> str:
        return self._loaded[0]

    @property
    def paths(self) -> InstancePaths:
        return self._loaded[1]

    @property
    def compose_project(self) -> str:
        return self._loaded[2]

    @property
    def ports(self) -> dict[str, int]:
        return self._loaded[3]

    def _io(self) -> dict[str, Any]:
        """How every CLI call runs: in the project, stdin closed, output merged into a pipe."""
        out = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
        return {"cwd": self.root, "env": self.environ(), "stdin": subprocess.DEVNULL, **out}

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(invoke_argv(*args), **self._io())

    def cli(self, *args: str, timeout: float = STOP_TIMEOUT) -> Run:
        t0 = time.monotonic()
        try:
            done = subprocess.run(invoke_argv(*args), **self._io(), timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            out = exc.output if isinstance(exc.output, bytes) else b""
            return Run(None, out.decode(errors="replace") + "\n(timed out)", timeout)
        return Run(done.returncode, done.stdout.decode(errors="replace"), time.monotonic() - t0)

    def start(self) -> Run:
        """``services.start --wait``, run to its end."""
        return self.cli("services.start", "--wait", timeout=START_TIMEOUT)

    def new_tracebacks(self) -> int:
        """Tracebacks realstack kept in its own log since the last call."""
        log = self.paths.logs / "realstack.log"
        try:
            text = log.read_text(errors="replace")
        except OSError:
            return 0
        seen = self.log_offsets.get(str(log), 0)
        self.log_offsets[str(log)] = len(text)
        return text[seen:].count(TRACEBACK)

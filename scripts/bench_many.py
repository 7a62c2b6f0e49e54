"""Benchmark: N checkouts of one project started at the same moment vs one alone.

Each checkout is a copy of one project (postgres + redis + two app processes, the same
manifest and env file, so the same preferred ports) in a registry of the bench's own: the
first keeps the manifest's ports, the others lease blocks of their own. Times `invoke
services.start --wait` in every checkout at once (wall time until the last is healthy) beside
one checkout alone, cold (data kept, nothing running), median of ``rounds``. Prints figures;
asserts nothing. Run by ``scripts/bench.py`` (``nox -s bench``).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SERVER = """
import http.server, json, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"instance": os.environ.get("REALSTACK_INSTANCE_ID", "")}).encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""
MANIFEST = """
[tool.realstack]
provider = "native"
[tool.realstack.services.postgres]
kind = "postgres"
port = "${POSTGRES_PORT}"
user = "bench"
database = "bench"
[tool.realstack.services.redis]
kind = "redis"
port = "${REDIS_PORT}"
[tool.realstack.services.auth]
kind = "process"
port = "${AUTH_PORT}"
command = ["{python}", "server.py", "{port}"]
probe = { kind = "http", path = "/health" }
depends_on = ["postgres", "redis"]
[tool.realstack.services.backend]
kind = "process"
port = "${BACKEND_PORT}"
command = ["{python}", "server.py", "{port}"]
probe = { kind = "http", path = "/health" }
depends_on = ["postgres", "redis", "auth"]
"""


def _checkouts(base: Path, count: int, env_file: str) -> list[Path]:
    roots = []
    for i in range(count):
        root = base / f"checkout-{i}"
        (root / "envs").mkdir(parents=True)
        (root / "envs" / "test.env").write_text(env_file)
        (root / "pyproject.toml").write_text(MANIFEST)
        (root / "server.py").write_text(SERVER)
        (root / "tasks.py").write_text("from realstack.tasks import namespace as ns  # noqa\n")
        roots.append(root)
    return roots


def _invoke(root: Path, env: dict[str, str], *args: str) -> None:
    cmd = [sys.executable, "-m", "invoke", *args]
    done = subprocess.run(cmd, cwd=root, env=env, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{root.name}: {' '.join(args)}: {done.stdout}{done.stderr}")


def _timed_starts(roots: list[Path], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(roots)) as pool:
        list(pool.map(lambda r: _invoke(r, env, "services.start", "--wait"), roots))
    return time.perf_counter() - t0


def many_stacks(count: int, rounds: int, free_port: object) -> None:
    """Print N stacks at once vs one alone (``free_port``: the bench's port picker)."""
    base = Path(tempfile.mkdtemp(prefix="realstack-bench-many-"))
    base.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALSTACK_")}
    env["XDG_STATE_HOME"] = str(base / "registry")
    names = ("POSTGRES_PORT", "REDIS_PORT", "AUTH_PORT", "BACKEND_PORT")
    env_file = "".join(f"{n}={free_port()}\n" for n in names)  # type: ignore[operator]
    roots = _checkouts(base, count, env_file)
    one, many = [], []
    try:
        _timed_starts(roots, env)  # first start: clusters made, ports leased
        for _ in range(rounds):
            for root in roots:
                _invoke(root, env, "services.stop")
            one.append(_timed_starts(roots[:1], env))
            _invoke(roots[0], env, "services.stop")
            many.append(_timed_starts(roots, env))
    finally:
        for root in roots:
            subprocess.run(
                [sys.executable, "-m", "invoke", "services.stop"],
                cwd=root,
                env=env,
                check=False,
                capture_output=True,
            )
        shutil.rmtree(base, ignore_errors=True)
    med = statistics.median
    ratio = med(many) / med(one)
    verdict = "met" if ratio <= 2.5 else "MISSED"
    print(f"\n{count} stacks at once (postgres + redis + 2 apps, same preferred ports), cold:")
    print(f"{'one stack alone, `invoke services.start --wait`':<52}{med(one):>9.3f}")
    print(
        f"{f'{count} stacks at the same moment (until the last is healthy)':<52}{med(many):>9.3f}"
    )
    print(f"{'ratio':<52}{ratio:>9.2f}  target <= 2.5x  {verdict}")

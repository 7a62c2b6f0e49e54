#!/usr/bin/env python3
"""Check the running stack: startup, health, connectivity and the env contract, with timings.

    python scripts/test_service_orchestration.py [--quick] [--verbose] [--cleanup] [--env test]

Run from the project root after ``invoke services.start --wait``. The services in scope are
the ones a plain start brings up (no profile, or an active one) plus any that run. Checks:
  startup       every service in scope is "ours" (realstack.status)
  health        every service's own readiness probe passes now (its latency is measured)
  connectivity  a PostgreSQL query via DATABASE_URL, Redis SET/GET/DEL via REDIS_URL,
                ClickHouse SELECT 1 via CLICKHOUSE_SERVICE_URL, GET <URL>/health for every
                other http(s) *_SERVICE_URL of the env contract
  env           runtime.env and runtime.json hold exactly the contract of what runs
``--quick`` runs startup and health only; ``--verbose`` prints every check's detail;
``--cleanup`` stops the stack after the checks (realstack.stop).

Exit codes: 0 every check passed, 1 a check (or the cleanup) failed, 2 a usage/config error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import psycopg
import redis
from dotenv import dotenv_values

import realstack
from realstack import probes
from realstack.model import Stack
from realstack.state import InstancePaths
from realstack.status import running_services
from realstack.status import status as inspect_status

CLIENT_TIMEOUT = 5.0  # seconds for each connectivity client: a hung service fails, not hangs
USAGE_ERROR = 2


@dataclass(frozen=True)
class Check:
    """One check's outcome, e.g. ("health", "redis", ok, "redis PING in 1.2 ms")."""

    group: str
    target: str
    ok: bool
    detail: str
    seconds: float | None = None

    @property
    def label(self) -> str:
        return f"{self.group}/{self.target}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _timed(action: Callable[[str], str], url: str) -> tuple[str, float]:
    """``action(url)``'s detail and how long it took."""
    t0 = time.perf_counter()
    detail = action(url)
    return detail, time.perf_counter() - t0


# --------------------------------------------------------------------------- checks


def check_startup(stack: Stack, scope: Sequence[str]) -> list[Check]:
    """Every service in scope has a live ours-record (pid + create_time), as
    ``realstack.status`` says."""
    checks = []
    for row in inspect_status(stack, probe=False):
        if row.name not in scope:
            continue
        if row.state == "ours":
            checks.append(Check("startup", row.name, True, f"ours, pid {row.pid}, port {row.port}"))
        else:
            why = row.health if row.health != "-" else "not running"
            owner = f" ({row.owner})" if row.owner else ""
            checks.append(Check("startup", row.name, False, f"{row.state}: {why}{owner}"))
    return checks


def check_health(stack: Stack, scope: Sequence[str]) -> list[Check]:
    """Each service's own readiness probe, one attempt now, with its latency."""
    checks = []
    for svc in (stack.service(name) for name in scope):
        probe = probes.check_for(svc)
        t0 = time.perf_counter()
        failure = probe()
        seconds = time.perf_counter() - t0
        what = f"{svc.probe.describe()} on port {svc.port}"
        detail = f"{what}: ok in {_ms(seconds)}" if failure is None else f"{what}: {failure}"
        checks.append(Check("health", svc.name, failure is None, detail, seconds))
    return checks


def _postgres_roundtrip(url: str) -> str:
    token = uuid.uuid4().hex
    with psycopg.connect(url, connect_timeout=int(CLIENT_TIMEOUT)) as conn:
        row = conn.execute(
            "SELECT current_user, current_database(), current_setting('server_version'), %s",
            (token,),
        ).fetchone()
    if row is None or row[3] != token:
        raise ValueError(f"query returned {row!r}")
    return f"SELECT as {row[0]} on {row[1]} (PostgreSQL {row[2]})"


def _redis_roundtrip(url: str) -> str:
    key, token = f"realstack:check:{uuid.uuid4().hex}", uuid.uuid4().hex
    client = redis.Redis.from_url(
        url,
        socket_timeout=CLIENT_TIMEOUT,
        socket_connect_timeout=CLIENT_TIMEOUT,
        decode_responses=True,
    )
    with client:
        client.set(key, token, ex=60)  # expires even if the DEL below never runs
        got = client.get(key)
        deleted = client.delete(key)
    if got != token or deleted != 1:
        raise ValueError(f"SET/GET/DEL gave {got!r}, deleted {deleted!r}")
    return f"SET/GET/DEL on db {url.rsplit('/', 1)[-1]}"


def _clickhouse_query(values: Mapping[str, str]) -> Callable[[str], str]:
    """``SELECT 1`` over ClickHouse's HTTP interface with the contract's credentials."""

    def roundtrip(url: str) -> str:
        response = httpx.post(
            url,
            params={"database": values.get("CLICKHOUSE_DB", "default")},
            content="SELECT 1",
            auth=(values.get("CLICKHOUSE_USER", "default"), values.get("CLICKHOUSE_PASSWORD", "")),
            timeout=CLIENT_TIMEOUT,
        )
        if response.status_code != 200 or response.text.strip() != "1":
            raise ValueError(f"SELECT 1 -> HTTP {response.status_code}")
        return f"SELECT 1 as {values.get('CLICKHOUSE_USER', 'default')}"

    return roundtrip


def _http_health(url: str) -> str:
    target = url.rstrip("/") + "/health"
    response = httpx.get(target, timeout=CLIENT_TIMEOUT)
    if not response.is_success:
        raise ValueError(f"GET {target} -> HTTP {response.status_code}")
    return f"GET {target} -> {response.status_code}"


_CLIENT_ERRORS = (psycopg.Error, redis.RedisError, httpx.HTTPError, OSError, ValueError)


def _exporter(stack: Stack, variable: str) -> str:
    """The service whose exports define ``variable``."""
    return next((s.name for s in stack.services if variable in s.exports), variable)


def check_connectivity(stack: Stack, running: Iterable[str]) -> list[Check]:
    """Real traffic through the env contract's URLs (values never printed: they hold secrets)."""
    values = realstack.contract(stack, set(running))
    plan: list[tuple[str, str, Callable[[str], str]]] = []
    if "DATABASE_URL" in values:
        plan.append(("DATABASE_URL", values["DATABASE_URL"], _postgres_roundtrip))
    if "REDIS_URL" in values:
        plan.append(("REDIS_URL", values["REDIS_URL"], _redis_roundtrip))
    if "CLICKHOUSE_SERVICE_URL" in values:
        url = values["CLICKHOUSE_SERVICE_URL"]
        plan.append(("CLICKHOUSE_SERVICE_URL", url, _clickhouse_query(values)))
    for name, url in values.items():
        if name == "CLICKHOUSE_SERVICE_URL":
            continue
        if name.endswith("_SERVICE_URL") and url.startswith(("http://", "https://")):
            plan.append((name, url, _http_health))
    checks = []
    for variable, url, action in plan:
        target = _exporter(stack, variable)
        try:
            detail, seconds = _timed(action, url)
        except _CLIENT_ERRORS as exc:
            reason = str(exc).strip().splitlines()
            text = f"{type(exc).__name__}: {reason[-1] if reason else ''}".rstrip(": ")
            checks.append(Check("connectivity", target, False, f"{variable}: {text}"))
            continue
        checks.append(
            Check("connectivity", target, True, f"{variable}: {detail} in {_ms(seconds)}", seconds)
        )
    return checks


def _differences(found: Mapping[str, str | None], expected: Mapping[str, str]) -> str:
    """Which variables differ, by name only."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    changed = sorted(k for k in set(found) & set(expected) if found[k] != expected[k])
    parts = [
        f"{label} {', '.join(names)}"
        for label, names in (("missing", missing), ("unexpected", extra), ("differ", changed))
        if names
    ]
    return "; ".join(parts)


def check_env(
    stack: Stack, running: Iterable[str], runtime: Mapping[str, Any] | None
) -> list[Check]:
    """runtime.env (what dotenv loaders read) and runtime.json's env equal the contract."""
    expected = realstack.contract(stack, set(running), enabled=False)  # what runs, only
    paths = InstancePaths(stack.state_dir)
    checks = []
    if not paths.runtime_env.is_file():
        checks.append(Check("env", "runtime.env", False, f"{paths.runtime_env} does not exist"))
    else:
        diff = _differences(dotenv_values(paths.runtime_env), expected)
        detail = diff or f"{len(expected)} variables match the contract ({paths.runtime_env})"
        checks.append(Check("env", "runtime.env", not diff, detail))
    if runtime is None:
        checks.append(Check("env", "runtime.json", False, f"{paths.runtime_json} is unreadable"))
    else:
        diff = _differences(runtime.get("env", {}), expected)
        detail = diff or f"{len(expected)} variables match the contract ({paths.runtime_json})"
        checks.append(Check("env", "runtime.json", not diff, detail))
    return checks


def read_runtime(stack: Stack) -> dict[str, Any] | None:
    """runtime.json as written by the last start/stop, or None when missing or not JSON."""
    path = InstancePaths(stack.state_dir).runtime_json
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# --------------------------------------------------------------------------- output


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    lines = [list(header), *(list(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(line, widths, strict=False)), line[-1]]).rstrip()
        for line in lines
    )


def checks_table(checks: Sequence[Check], verbose: bool) -> str:
    """One row per check; the detail for failures always, for passes with ``verbose``."""
    return table(
        ("CHECK", "SERVICE", "RESULT", "DETAIL"),
        (
            (c.group, c.target, "PASS" if c.ok else "FAIL", c.detail if verbose or not c.ok else "")
            for c in checks
        ),
    )


def timings_table(stack: Stack, runtime: Mapping[str, Any] | None, health: list[Check]) -> str:
    """started_at and ready_seconds from runtime.json, probe latency measured now."""
    recorded = (runtime or {}).get("services", {})
    latency = {c.target: c.seconds for c in health}
    rows = []
    for name in stack.names:
        entry = recorded.get(name, {})
        started = entry.get("started_at")
        ready = entry.get("ready_seconds")
        probe = latency.get(name)
        rows.append(
            (
                name,
                datetime.fromtimestamp(started).isoformat(sep=" ", timespec="seconds")
                if isinstance(started, int | float)
                else "-",
                f"{ready:.3f} s" if isinstance(ready, int | float) else "-",
                _ms(probe) if probe is not None else "-",
            )
        )
    return table(("SERVICE", "STARTED_AT", "READY_SECONDS", "PROBE_LATENCY"), rows)


# --------------------------------------------------------------------------- main


def in_scope(stack: Stack, running: Iterable[str]) -> list[str]:
    """What should run: the services a plain start brings up, and whatever runs besides."""
    running = set(running)
    return [s.name for s in stack.services if stack.enabled(s) or s.name in running]


def run_checks(stack: Stack, quick: bool) -> tuple[list[Check], list[Check]]:
    """All checks (startup + health only when ``quick``), and the health checks alone."""
    running = running_services(stack)
    scope = in_scope(stack, running)
    startup = check_startup(stack, scope)
    health = check_health(stack, scope)
    checks = [*startup, *health]
    if not quick:
        checks += check_connectivity(stack, running)
        checks += check_env(stack, running, read_runtime(stack))
    return checks, health


def cleanup(stack: Stack) -> bool:
    """Stop what realstack started; print one line per service; False on failure."""
    try:
        report = realstack.stop(env=stack.env, root=stack.root)
    except realstack.RealstackError as exc:
        print(f"cleanup failed: {exc}", file=sys.stderr)
        return False
    for result in report.results:
        print(f"  {result.name:<12} {result.action}")
    return True


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="startup and health checks only")
    parser.add_argument("--verbose", action="store_true", help="print every check's detail")
    parser.add_argument("--cleanup", action="store_true", help="stop the stack after the checks")
    parser.add_argument("--env", help="env name (envs/<env>.env; default: the manifest's)")
    return parser.parse_args(argv)  # argparse exits 2 on usage errors


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        stack = realstack.load_stack(env=args.env)
    except realstack.RealstackError as exc:
        print(f"realstack: {exc}", file=sys.stderr)
        return exc.exit_code
    scope = in_scope(stack, running_services(stack))
    print(f"realstack [{stack.env}] {stack.root}: checking {', '.join(scope)}")
    checks, health = run_checks(stack, args.quick)
    print()
    print(checks_table(checks, args.verbose))
    print()
    print(timings_table(stack, read_runtime(stack), health))
    print()
    failed = [c.label for c in checks if not c.ok]
    if failed:
        print(
            f"✗ {len(failed)} of {len(checks)} checks failed: {', '.join(failed)}", file=sys.stderr
        )
    else:
        print(f"✓ all {len(checks)} checks passed")
    stopped = True
    if args.cleanup:
        print("cleanup: stopping the stack")
        stopped = cleanup(stack)
    return 1 if failed or not stopped else 0


if __name__ == "__main__":
    sys.exit(main())

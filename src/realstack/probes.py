"""Probe spec → check callable. One attempt per call; the looping lives in :mod:`waiting`.

Client libraries are imported when a probe of their kind is built, not at import time: the
CLI should not pay for httpx when the stack has no HTTP service.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from typing import Any

from realstack.model import Probe, Service

ProbeCheck = Callable[[], str | None]


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}".rstrip(": ")


def tcp_check(host: str, port: int, timeout: float) -> ProbeCheck:
    def check() -> str | None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return None
        except OSError as exc:
            return _describe(exc)

    return check


def http_check(url: str, status: int, timeout: float) -> ProbeCheck:
    import httpx  # noqa: PLC0415

    def check() -> str | None:
        try:
            response = httpx.get(url, timeout=timeout)
        except httpx.HTTPError as exc:
            return _describe(exc)
        if response.status_code != status:
            return f"HTTP {response.status_code} from {url} (want {status})"
        return None

    return check


def postgres_check(service: Service, timeout: float) -> ProbeCheck:
    import psycopg  # noqa: PLC0415

    params: dict[str, Any] = {
        "host": service.host,
        "port": service.port,
        "user": service.user,
        "password": service.password,
        "dbname": service.database,
        "connect_timeout": max(1, round(timeout)),
    }

    def check() -> str | None:
        try:
            with psycopg.connect(**params) as conn:
                conn.execute("SELECT 1").fetchone()
        except psycopg.Error as exc:
            return _describe(exc)
        return None

    return check


def redis_check(url: str, timeout: float) -> ProbeCheck:
    import redis  # noqa: PLC0415

    def check() -> str | None:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        except redis.RedisError as exc:
            return _describe(exc)
        finally:
            client.close()
        return None

    return check


def clickhouse_check(service: Service, timeout: float) -> ProbeCheck:
    """``SELECT 1`` over ClickHouse's HTTP interface, as the manifest's user (basic auth)."""
    import httpx  # noqa: PLC0415

    url = f"http://{service.host}:{service.port}/"
    params = {"query": "SELECT 1", "database": service.database}
    auth = (service.user, service.password)

    def check() -> str | None:
        try:
            response = httpx.get(url, params=params, auth=auth, timeout=timeout)
        except httpx.HTTPError as exc:
            return _describe(exc)
        if response.status_code != 200 or response.text.strip() != "1":
            first = response.text.strip().splitlines()[:1]
            return f"HTTP {response.status_code} from {url}" + (f": {first[0]}" if first else "")
        return None

    return check


def command_check(argv: tuple[str, ...], timeout: float) -> ProbeCheck:
    def check() -> str | None:
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return _describe(exc)
        if done.returncode != 0:
            out = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
            return f"exit {done.returncode}" + (f": {out[-1]}" if out else "")
        return None

    return check


def check_for(service: Service) -> ProbeCheck:
    """The readiness check of ``service``'s probe, aimed at its host and port."""
    probe: Probe = service.probe
    t = probe.attempt_timeout
    if probe.kind == "tcp":
        return tcp_check(service.host, service.port, t)
    if probe.kind == "http":
        return http_check(f"http://{service.host}:{service.port}{probe.path}", probe.status, t)
    if probe.kind == "postgres":
        return postgres_check(service, t)
    if probe.kind == "redis":
        return redis_check(f"redis://{service.host}:{service.port}/0", t)
    if probe.kind == "clickhouse":
        return clickhouse_check(service, t)
    return command_check(probe.command, t)

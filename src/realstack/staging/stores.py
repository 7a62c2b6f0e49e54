"""Data-store targets: PostgreSQL ``SELECT 1`` (psycopg) and Redis ``PING`` (redis-py).

Both connect to the address resolved here (PostgreSQL through ``hostaddr``, keeping the
URL's host for TLS and passwords), and time the connection apart from the first answer.
Their TLS, when the URL asks for it, is the client library's own (``sslmode``, ``rediss``).
"""

from __future__ import annotations

import math
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

from realstack.staging.net import Deadline, note_latency, resolve
from realstack.staging.targets import Settings, Target
from realstack.staging.verdict import Row

_PORTS = {"postgresql": 5432, "postgres": 5432, "redis": 6379, "rediss": 6379}


def check_postgres(
    target: Target, settings: Settings, ctx: ssl.SSLContext, deadline: Deadline
) -> Row:
    row = Row.of(target)
    try:
        _postgres(row, target, settings, deadline)
    except Exception as exc:  # noqa: BLE001 - the one place this check's errors become a row
        row.absorb(exc, deadline.seconds)
    return row


def _address(row: Row, url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    return resolve(row, parts.hostname, parts.port or _PORTS.get(parts.scheme, 0))


def _postgres(row: Row, target: Target, settings: Settings, deadline: Deadline) -> None:
    import psycopg  # noqa: PLC0415 - only when a deployed env offers PostgreSQL

    address = _address(row, target.url)
    extra: dict[str, Any] = {"hostaddr": address} if address else {}
    row.stage = "connect"
    started = time.monotonic()
    timeout = max(1, math.ceil(deadline.left()))  # libpq counts whole seconds
    with psycopg.connect(target.url, connect_timeout=timeout, **extra) as conn:
        row.connect_ms = (time.monotonic() - started) * 1000
        row.stage = "query"
        started = time.monotonic()
        answer = conn.execute("SELECT 1").fetchone()
        row.first_byte_ms = (time.monotonic() - started) * 1000
    note_latency(row, settings.slow_ms)
    value = answer[0] if answer else None
    row.check = f"SELECT 1 → {value}"
    if value != 1:
        row.add("fail", f"SELECT 1 answered {value!r}")


def check_redis(target: Target, settings: Settings, ctx: ssl.SSLContext, deadline: Deadline) -> Row:
    row = Row.of(target)
    try:
        _redis(row, target, settings, deadline)
    except Exception as exc:  # noqa: BLE001 - the one place this check's errors become a row
        row.absorb(exc, deadline.seconds)
    return row


def _redis(row: Row, target: Target, settings: Settings, deadline: Deadline) -> None:
    import redis  # noqa: PLC0415 - only when a deployed env offers Redis
    from redis.backoff import NoBackoff  # noqa: PLC0415
    from redis.retry import Retry  # noqa: PLC0415

    _address(row, target.url)
    left = deadline.left()
    row.stage = "connect"
    started = time.monotonic()
    # one connection, made (TCP, TLS for rediss, AUTH, SELECT) as the client is built
    client = redis.Redis.from_url(
        target.url,
        socket_connect_timeout=left,
        socket_timeout=left,
        single_connection_client=True,
        retry=Retry(NoBackoff(), retries=0),  # one attempt: its answer is the finding
    )
    try:
        row.connect_ms = (time.monotonic() - started) * 1000
        row.stage = "query"
        started = time.monotonic()
        answer = client.ping()
        row.first_byte_ms = (time.monotonic() - started) * 1000
    finally:
        client.close()
    note_latency(row, settings.slow_ms)
    row.check = "PING → PONG" if answer is True else f"PING → {answer!r}"
    if answer is not True:
        row.add("fail", f"PING answered {answer!r}"[:80])

"""Probe spec → check callable. One attempt per call; the looping lives in :mod:`waiting`.

Probes run on every health gate, status, warm start and test-run preflight, so none uses a
client library: PostgreSQL and Redis are spoken to over plain sockets, HTTP (and ClickHouse)
through the standard library (:mod:`realstack.httpget`). A deployed env's PostgreSQL and Redis
may need TLS: their clients are imported when such a probe is built (:mod:`.probes_deployed`).
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable

from realstack.errors import ServiceError
from realstack.model import Probe, Service

ProbeCheck = Callable[[], str | None]


class Permanent(str):
    """A probe's objection that waiting cannot remove (a start fails at once on it)."""

    def error(self, service: str) -> ServiceError:
        return ServiceError(service, f"{service}: {self}")


# The server answers, and refuses the manifest's login for good: wrong password, no such role,
# no such database. Its kept data was made with other credentials than the manifest's now.
_LOGIN_REFUSED = frozenset({"28P01", "28000", "3D000"})


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}".rstrip(": ")


def tcp_check(host: str, port: int, timeout: float) -> ProbeCheck:
    def check() -> str | None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return None
        except OSError as exc:
            return describe(exc)

    return check


def http_check(url: str, status: int, timeout: float) -> ProbeCheck:
    """GET ``url`` and want ``status`` (an ``https`` URL verified as the staging checks do:
    the system's CAs, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``)."""
    from realstack import httpget  # noqa: PLC0415

    context, unusable = None, None
    if url.startswith("https:"):
        from realstack.errors import ConfigError  # noqa: PLC0415
        from realstack.staging.net import trust  # noqa: PLC0415 - deployed services only

        try:
            context = trust()
        except ConfigError as exc:  # a CA bundle that cannot be read: every attempt says so
            unusable = str(exc)

    def check() -> str | None:
        if unusable is not None:
            return unusable
        try:
            code, _ = httpget.get(url, timeout, context=context)
        except httpget.Unanswered as exc:
            if isinstance(exc.__cause__, TimeoutError):  # a slow health route is not a dead one
                return f"{exc} (no answer within the probe's attempt_timeout, {timeout:g}s)"
            return str(exc)
        if code != status:
            return f"HTTP {code} from {url} (want {status})"
        return None

    return check


def postgres_check(service: Service, timeout: float) -> ProbeCheck:
    """Log in as the manifest's user and ``SELECT 1``, over the wire protocol on a plain
    socket (:mod:`realstack.pgwire`): as truthful as a client's login, without its import."""
    from realstack import pgwire  # noqa: PLC0415

    connect_timeout = max(1, round(timeout))  # what libpq's connect_timeout allowed
    password = service.password or os.environ.get("PGPASSWORD", "")  # libpq's fallback

    def check() -> str | None:
        try:
            pgwire.select_one(
                service.host,
                service.port,
                service.user,
                password,
                service.database,
                connect_timeout,
            )
        except pgwire.Refused as exc:
            if exc.code in _LOGIN_REFUSED:
                return Permanent(
                    f"postgres: {exc} (its data was made with another user, password or "
                    "database than the manifest's now; `invoke services.stop --only "
                    f"{service.name} --purge` deletes it, and the next start makes it anew)"
                )
            return f"postgres: {exc}"
        except OSError as exc:
            return describe(exc)
        return None

    return check


def _resp(*words: str) -> bytes:
    """One RESP command (the protocol's array of bulk strings)."""
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def redis_exchange(
    host: str, port: int, timeout: float, password: str, *command: str
) -> list[bytes] | str:
    """One Redis command over a plain socket (after ``AUTH`` when there is a password): the
    reply's lines, or why there is none. Raw RESP for the reason given at :func:`redis_check`;
    enough for the short replies realstack asks for (simple strings, small bulk arrays)."""
    request = (_resp("AUTH", password) if password else b"") + _resp(*command)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            received = b""
            while not _complete(received, 2 if password else 1):
                chunk = sock.recv(4096)
                if not chunk:
                    return "connection closed before the reply"
                received += chunk
    except OSError as exc:
        return describe(exc)
    lines = received.split(b"\r\n")
    for line in lines:
        if line.startswith(b"-"):
            return f"redis: {line[1:].decode(errors='replace')}"
    return lines[1:] if password else lines


def _complete(received: bytes, replies: int) -> bool:
    """Whether ``received`` holds ``replies`` whole replies: a simple one is a line; an array
    (``*N``) is its N bulk strings (``$len`` + data, or ``$-1``)."""
    lines = received.split(b"\r\n")[:-1]  # the text after the last CRLF is not a line yet
    i = 0
    for _ in range(replies):
        if i >= len(lines):
            return False
        head = lines[i]
        i += 1
        count = int(head[1:]) if head[:1] == b"*" and head[1:].lstrip(b"-").isdigit() else 0
        for _ in range(max(0, count)):
            if i >= len(lines):
                return False
            i += 1 if lines[i] == b"$-1" else 2
    return i <= len(lines)


def redis_check(host: str, port: int, timeout: float, password: str = "") -> ProbeCheck:
    """``PING`` (after ``AUTH`` when there is a password), over a plain socket.

    Three lines of RESP instead of redis-py: the probe runs in every health gate, and the
    client's import (and the objects it leaves for the garbage collector) cost a test run more
    than the whole check.
    """

    def check() -> str | None:
        reply = redis_exchange(host, port, timeout, password, "PING")
        if isinstance(reply, str):
            return reply
        return None if reply[:1] == [b"+PONG"] else "no PONG"

    return check


def clickhouse_check(service: Service, timeout: float) -> ProbeCheck:
    """``SELECT 1`` over ClickHouse's HTTP interface, as the manifest's user (basic auth)."""
    from realstack import httpget  # noqa: PLC0415

    url = f"http://{service.host}:{service.port}/"
    params = {"query": "SELECT 1", "database": service.database}
    auth = (service.user, service.password)

    def check() -> str | None:
        try:
            code, body = httpget.get(url, timeout, params=params, auth=auth)
        except httpget.Unanswered as exc:
            return str(exc)
        text = body.decode(errors="replace").strip()
        if code != 200 or text != "1":
            first = text.splitlines()[:1]
            return f"HTTP {code} from {url}" + (f": {first[0]}" if first else "")
        return None

    return check


def command_check(argv: tuple[str, ...], timeout: float) -> ProbeCheck:
    def check() -> str | None:
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return describe(exc)
        if done.returncode != 0:
            out = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
            return f"exit {done.returncode}" + (f": {out[-1]}" if out else "")
        return None

    return check


def check_for(service: Service) -> ProbeCheck:
    """The readiness check of ``service``'s probe, aimed at its host and port (a deployed
    env's service: at its URL)."""
    if service.external or (service.port == 0 and not service.is_task):
        from realstack.probes_deployed import external_check  # noqa: PLC0415 - deployed only

        return external_check(service)
    probe: Probe = service.probe
    t = probe.attempt_timeout
    if probe.kind == "tcp":
        return tcp_check(service.host, service.port, t)
    if probe.kind == "http":
        return http_check(f"http://{service.host}:{service.port}{probe.path}", probe.status, t)
    if probe.kind == "postgres":
        return postgres_check(service, t)
    if probe.kind == "redis":
        return redis_check(service.host, service.port, t)
    if probe.kind == "clickhouse":
        return clickhouse_check(service, t)
    return command_check(probe.command, t)

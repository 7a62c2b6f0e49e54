"""WebSocket targets: the upgrade, with the token, and the first frame the server sends.

The TCP connection and the TLS handshake are made here (timed, and the certificate read),
then handed to websockets for the upgrade. After the upgrade one frame asks for an answer:
the reference backend replies to any frame type it does not know with an error frame (no
run starts), or closes with 1008 when it refused the token. A server that stays silent for
``FIRST_FRAME_WAIT`` seconds is taken as having kept the connection: ok.
"""

from __future__ import annotations

import json
import socket
import ssl
import time

from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.uri import parse_uri

from realstack.staging.net import Deadline, note_certificate, note_latency, resolve
from realstack.staging.targets import TOKEN_VAR, Settings, Target
from realstack.staging.verdict import ACCEPTED, NOT_CONFIGURED, REJECTED, Row

FIRST_FRAME_WAIT = 1.0
CHECK_FRAME = json.dumps({"type": "realstack_check"})
POLICY_VIOLATION = 1008  # the reference backend's "missing or invalid token"
_USER_AGENT = "realstack-staging-check"


def check_websocket(
    target: Target, settings: Settings, ctx: ssl.SSLContext, deadline: Deadline
) -> Row:
    row = Row.of(target)
    row.expected_status = 101
    if not settings.token:
        row.token = NOT_CONFIGURED
        row.add("degraded", f"no {TOKEN_VAR} in the environment: upgrade tried without a token")
    try:
        _check(row, target, settings, ctx, deadline)
    except Exception as exc:  # noqa: BLE001 - the one place this check's errors become a row
        _absorb(row, exc, settings, deadline)
    return row


def _check(
    row: Row, target: Target, settings: Settings, ctx: ssl.SSLContext, deadline: Deadline
) -> None:
    uri = parse_uri(target.url)
    address = resolve(row, uri.host, uri.port)
    row.stage = "connect"
    started = time.monotonic()
    sock = socket.create_connection((address, uri.port), timeout=deadline.left())
    row.connect_ms = (time.monotonic() - started) * 1000
    try:
        if uri.secure:
            row.stage = "tls"
            started = time.monotonic()
            sock = ctx.wrap_socket(sock, server_hostname=uri.host)
            row.tls_ms = (time.monotonic() - started) * 1000
            note_certificate(row, sock.getpeercert() or {}, settings.cert_warn_days)
        sock.settimeout(None)  # from here on websockets keeps the time
    except BaseException:
        sock.close()
        raise
    _upgrade(row, sock, ClientProtocol(uri), settings, deadline)


def _upgrade(
    row: Row, sock: socket.socket, protocol: ClientProtocol, settings: Settings, deadline: Deadline
) -> None:
    row.stage = "upgrade"
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else None
    conn = ClientConnection(
        sock, protocol, ping_interval=None, close_timeout=min(1.0, deadline.left())
    )
    started = time.monotonic()
    try:
        conn.handshake(headers, _USER_AGENT, deadline.left())
    except BaseException:
        conn.close_socket()  # what websockets' own connect() does after a failed handshake
        conn.recv_events_thread.join()
        raise
    with conn:
        row.first_byte_ms = (time.monotonic() - started) * 1000
        row.status = conn.response.status_code if conn.response is not None else None
        note_latency(row, settings.slow_ms)
        row.stage = "first frame"
        conn.send(CHECK_FRAME)
        try:
            frame = conn.recv(timeout=min(FIRST_FRAME_WAIT, deadline.left()))
        except TimeoutError:
            row.check = f"upgrade {row.status}; no frame within {FIRST_FRAME_WAIT:g} s, stays open"
        else:
            row.check = f"upgrade {row.status}; first frame {_kind_of(frame)}"
        if settings.token:
            row.token = ACCEPTED


def _kind_of(frame: str | bytes) -> str:
    """A frame's ``type`` (never its content: it may echo what it was sent)."""
    if isinstance(frame, bytes):
        return f"binary ({len(frame)} bytes)"
    try:
        data = json.loads(frame)
    except ValueError:
        return f"text ({len(frame)} chars)"
    return f"type={data.get('type')}" if isinstance(data, dict) else "JSON"


def _absorb(row: Row, exc: Exception, settings: Settings, deadline: Deadline) -> None:
    """Refusals in the WebSocket's own terms first (status, close code), then as for any
    connection. Without a token, a refusal of the token is what was expected."""
    if isinstance(exc, InvalidStatus):
        row.status = exc.response.status_code
        if settings.token or row.status not in (401, 403):
            row.add("fail", f"upgrade refused: HTTP {row.status}")
        return
    if isinstance(exc, ConnectionClosed):
        code = exc.rcvd.code if exc.rcvd is not None else None
        why = f"close {code}" + (f": {exc.rcvd.reason}" if exc.rcvd and exc.rcvd.reason else "")
        row.check = f"upgrade {row.status}; {why}"
        if code == POLICY_VIOLATION and settings.token:
            row.token = REJECTED
            row.add("fail", f"token rejected ({why})")
        elif code != POLICY_VIOLATION:
            row.add("fail", f"closed after the upgrade ({why})")
        return
    row.absorb(exc, deadline.seconds)

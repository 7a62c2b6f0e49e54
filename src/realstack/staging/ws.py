"""WebSocket targets: the upgrade, with the token, and the first frame the server sends.

The TCP connection and the TLS handshake are made here (timed, and the certificate read),
then websockets' sans-I/O protocol makes the upgrade, driven from this one thread with the
target's deadline on every read. After the upgrade one frame asks for an answer: the
reference backend replies to any frame type it does not know with an error frame (no run
starts), or closes with 1008 when it refused the token. A server that stays silent for
``FIRST_FRAME_WAIT`` seconds is taken as having kept the connection: ok.

Not websockets' sync client: it reads in a thread of its own while the caller writes, and a
TLS socket must not be read and written from two threads at once. Under load the upgrade went
unanswered now and then (request or answer lost; a healthy server, no answer within the
budget), and the client then waited without end on its reading thread, blocked in a TLS read.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import time

from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidState, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import Event, State
from websockets.uri import parse_uri

from realstack.staging.net import Deadline, note_certificate, note_latency, resolve
from realstack.staging.targets import TOKEN_VAR, Settings, Target
from realstack.staging.verdict import ACCEPTED, NOT_CONFIGURED, REJECTED, Row

FIRST_FRAME_WAIT = 1.0
CLOSE_WAIT = 1.0  # for the server's half of the closing handshake
CHECK_FRAME = json.dumps({"type": "realstack_check"})
POLICY_VIOLATION = 1008  # the reference backend's "missing or invalid token"
_USER_AGENT = "realstack-staging-check"
_READ_SIZE = 65536


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
            sock.settimeout(deadline.left())
            sock = ctx.wrap_socket(sock, server_hostname=uri.host)
            row.tls_ms = (time.monotonic() - started) * 1000
            note_certificate(row, sock.getpeercert() or {}, settings.cert_warn_days)
        _upgrade(row, sock, ClientProtocol(uri), settings, deadline)
    finally:
        sock.close()


def _upgrade(
    row: Row, sock: socket.socket, protocol: ClientProtocol, settings: Settings, deadline: Deadline
) -> None:
    row.stage = "upgrade"
    request = protocol.connect()
    request.headers["User-Agent"] = _USER_AGENT
    if settings.token:
        request.headers["Authorization"] = f"Bearer {settings.token}"
    protocol.send_request(request)
    _send(sock, protocol, deadline.left())
    started = time.monotonic()
    response, early = _response(sock, protocol, deadline)
    row.first_byte_ms = (time.monotonic() - started) * 1000
    row.status = response.status_code
    note_latency(row, settings.slow_ms)
    row.stage = "first frame"
    if protocol.state is State.OPEN:  # not closed in the same breath as the upgrade
        protocol.send_text(CHECK_FRAME.encode())
        _send(sock, protocol, deadline.left())
    frame = _first_frame(sock, protocol, min(FIRST_FRAME_WAIT, deadline.left()), early)
    if frame is None:
        row.check = f"upgrade {row.status}; no frame within {FIRST_FRAME_WAIT:g} s, stays open"
    else:
        row.check = f"upgrade {row.status}; first frame {_kind_of(frame)}"
    if settings.token:
        row.token = ACCEPTED
    _close(sock, protocol, min(CLOSE_WAIT, deadline.left()))


def _send(sock: socket.socket, protocol: ClientProtocol, timeout: float) -> None:
    """Write what the protocol has to send (an empty chunk asks for the end of our writing:
    the socket is closed when the check ends anyway)."""
    sock.settimeout(timeout)
    for data in protocol.data_to_send():
        if data:
            sock.sendall(data)


def _receive(sock: socket.socket, protocol: ClientProtocol, timeout: float) -> bool:
    """Feed the protocol what the server sends next (TimeoutError after ``timeout``) and
    send its automatic answers (pong, the close reply); False once the server has closed."""
    end = time.monotonic() + timeout
    sock.settimeout(timeout)
    data = sock.recv(_READ_SIZE)
    if data:
        protocol.receive_data(data)
    else:
        protocol.receive_eof()
    # a server that closed without reading our reply: what it sent still counts
    with contextlib.suppress(OSError):
        _send(sock, protocol, max(end - time.monotonic(), 0.001))
    return bool(data)


def _response(
    sock: socket.socket, protocol: ClientProtocol, deadline: Deadline
) -> tuple[Response, list[Event]]:
    """The server's answer to the upgrade, and what came with it; a refusal is raised
    (InvalidStatus and the like)."""
    while True:
        if time.monotonic() >= deadline.end:  # a server that keeps trickling bytes
            raise TimeoutError("no complete answer to the upgrade")
        open_ = _receive(sock, protocol, deadline.left())
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        events = protocol.events_received()
        for at, event in enumerate(events):
            if isinstance(event, Response):
                return event, events[at + 1 :]
        if not open_:
            raise InvalidMessage("the server closed the connection before answering the upgrade")


def _first_frame(
    sock: socket.socket, protocol: ClientProtocol, wait: float, events: list[Event]
) -> str | bytes | None:
    """The first data frame within ``wait`` seconds (``events`` came already), or None; a
    close, or the end of the connection, raises ConnectionClosed."""
    end = time.monotonic() + wait
    while True:
        for event in events:
            if isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY):
                data = bytes(event.data)
                return data.decode(errors="replace") if event.opcode is Opcode.TEXT else data
        if protocol.state is not State.OPEN:  # a close received, or websockets failed it
            protocol.receive_eof()  # idempotent: the socket is closed next, the state CLOSED
            raise protocol.close_exc
        left = end - time.monotonic()
        if left <= 0:
            return None
        try:
            _receive(sock, protocol, left)
        except TimeoutError:
            return None
        events = protocol.events_received()


def _close(sock: socket.socket, protocol: ClientProtocol, wait: float) -> None:
    """Our half of the closing handshake, and the server's if it comes within ``wait``: a
    server that does not answer is no finding (the socket is closed either way)."""
    end = time.monotonic() + wait
    try:
        protocol.send_close()
        _send(sock, protocol, wait)
        while (left := end - time.monotonic()) > 0 and _receive(sock, protocol, left):
            protocol.events_received()
    except (OSError, ConnectionClosed, InvalidState):
        return


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

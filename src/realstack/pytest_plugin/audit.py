"""Real-I/O audit: which stack endpoints a test actually talked to.

Python sockets (httpx, redis-py, websockets …) are seen when they connect or send (a pooled
keep-alive connection opened before the test still counts when the test uses it). libpq
works in C, so psycopg is seen through its own ``Connection.connect`` and
``Cursor.execute``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import psycopg

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0", ""}


class Recorder:
    """Collects (host, port) pairs connected to while a test runs."""

    def __init__(self) -> None:
        self.active = False
        self.seen: set[int] = set()

    def note(self, host: object, port: object) -> None:
        if self.active and str(host) in _LOOPBACK and isinstance(port, int):
            self.seen.add(port)

    def reset(self) -> None:
        self.seen = set()


RECORDER = Recorder()
_installed: dict[str, Any] = {}


def install() -> None:
    """Wrap the connect entry points once per process."""
    if _installed:
        return
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_pg: Callable[..., Any] = psycopg.Connection.connect.__func__  # type: ignore[attr-defined]

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and len(address) >= 2:
            RECORDER.note(address[0], address[1])
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if isinstance(address, tuple) and len(address) >= 2:
            RECORDER.note(address[0], address[1])
        return original_connect_ex(self, address)

    original_send = socket.socket.send
    original_sendall = socket.socket.sendall
    original_execute = psycopg.Cursor.execute

    def note_peer(sock: socket.socket) -> None:
        if RECORDER.active:
            try:
                peer = sock.getpeername()
            except OSError:
                return
            if isinstance(peer, tuple):
                RECORDER.note(peer[0], peer[1])

    def send(self: socket.socket, data: Any, *args: Any) -> int:
        note_peer(self)
        return original_send(self, data, *args)

    def sendall(self: socket.socket, data: Any, *args: Any) -> None:
        note_peer(self)
        original_sendall(self, data, *args)

    def execute(self: psycopg.Cursor[Any], *args: Any, **kwargs: Any) -> Any:
        if RECORDER.active:
            info = self.connection.info
            RECORDER.note(info.host, info.port)
        return original_execute(self, *args, **kwargs)

    def pg_connect(cls: type[Any], /, conninfo: str = "", **kwargs: Any) -> Any:
        params = psycopg.conninfo.conninfo_to_dict(conninfo, **kwargs)
        port = params.get("port") or 5432
        RECORDER.note(params.get("host", "localhost"), int(str(port).split(",")[0]))
        return original_pg(cls, conninfo, **kwargs)

    _installed.update(
        connect=original_connect,
        connect_ex=original_connect_ex,
        send=original_send,
        sendall=original_sendall,
        pg=original_pg,
        execute=original_execute,
    )
    for name, wrapper in (
        ("connect", connect),
        ("connect_ex", connect_ex),
        ("send", send),
        ("sendall", sendall),
    ):
        setattr(socket.socket, name, wrapper)
    setattr(psycopg.Connection, "connect", classmethod(pg_connect))  # noqa: B010
    setattr(psycopg.Cursor, "execute", execute)  # noqa: B010


def uninstall() -> None:
    if not _installed:
        return
    for name in ("connect", "connect_ex", "send", "sendall"):
        setattr(socket.socket, name, _installed[name])
    setattr(psycopg.Connection, "connect", classmethod(_installed["pg"]))  # noqa: B010
    setattr(psycopg.Cursor, "execute", _installed["execute"])  # noqa: B010
    _installed.clear()

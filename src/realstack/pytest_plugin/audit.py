"""Real-I/O audit: which stack endpoints a test actually talked to.

Python sockets (httpx, redis-py, websockets …) are seen when they connect or send (a pooled
keep-alive connection opened before the test still counts when the test uses it). libpq
works in C, so psycopg is seen through its own ``Connection.connect`` and
``Cursor.execute`` — wrapped once psycopg is imported by the tests, never imported here (its
import and the objects it leaves for the garbage collector would cost every run).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import Any

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
_sockets: dict[str, Any] = {}
_psycopg: dict[str, Any] = {}


def _note_peer(sock: socket.socket) -> None:
    if RECORDER.active:
        try:
            peer = sock.getpeername()
        except OSError:
            return
        if isinstance(peer, tuple):
            RECORDER.note(peer[0], peer[1])


def install() -> None:
    """Wrap the socket entry points once per process (only runs with strict tests call it),
    and psycopg's if it is already loaded (see :func:`follow_psycopg`)."""
    if not _sockets:
        original = {
            n: getattr(socket.socket, n) for n in ("connect", "connect_ex", "send", "sendall")
        }

        def connect(self: socket.socket, address: Any) -> None:
            if isinstance(address, tuple) and len(address) >= 2:
                RECORDER.note(address[0], address[1])
            original["connect"](self, address)

        def connect_ex(self: socket.socket, address: Any) -> int:
            if isinstance(address, tuple) and len(address) >= 2:
                RECORDER.note(address[0], address[1])
            return int(original["connect_ex"](self, address))

        def send(self: socket.socket, data: Any, *args: Any) -> int:
            _note_peer(self)
            return int(original["send"](self, data, *args))

        def sendall(self: socket.socket, data: Any, *args: Any) -> None:
            _note_peer(self)
            original["sendall"](self, data, *args)

        _sockets.update(original)
        for name, wrapper in (
            ("connect", connect),
            ("connect_ex", connect_ex),
            ("send", send),
            ("sendall", sendall),
        ):
            setattr(socket.socket, name, wrapper)
    follow_psycopg()


def follow_psycopg() -> None:
    """Wrap psycopg's entry points if a test has imported it since (a dict lookup if not)."""
    if _psycopg or "psycopg" not in sys.modules:
        return
    psycopg = sys.modules["psycopg"]
    original_pg: Callable[..., Any] = psycopg.Connection.connect.__func__
    original_execute = psycopg.Cursor.execute

    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        if RECORDER.active:
            info = self.connection.info
            RECORDER.note(info.host, info.port)
        return original_execute(self, *args, **kwargs)

    def pg_connect(cls: type[Any], /, conninfo: str = "", **kwargs: Any) -> Any:
        params = psycopg.conninfo.conninfo_to_dict(conninfo, **kwargs)
        port = params.get("port") or 5432
        RECORDER.note(params.get("host", "localhost"), int(str(port).split(",")[0]))
        return original_pg(cls, conninfo, **kwargs)

    _psycopg.update(pg=original_pg, execute=original_execute)
    setattr(psycopg.Connection, "connect", classmethod(pg_connect))  # noqa: B010
    setattr(psycopg.Cursor, "execute", execute)  # noqa: B010


def uninstall() -> None:
    for name, original in _sockets.items():
        setattr(socket.socket, name, original)
    _sockets.clear()
    if _psycopg:
        psycopg = sys.modules["psycopg"]
        setattr(psycopg.Connection, "connect", classmethod(_psycopg["pg"]))  # noqa: B010
        setattr(psycopg.Cursor, "execute", _psycopg["execute"])  # noqa: B010
        _psycopg.clear()

"""The raw RESP exchange behind Redis probes and the identity handshake: it waits for whole
replies (also when they arrive in pieces), and turns an error reply into a sentence."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from realstack.probes import redis_exchange


@pytest.fixture
def server() -> Iterator[tuple[int, list[bytes]]]:
    """A one-connection server that answers with the given chunks, one send each."""
    chunks: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            for chunk in chunks:
                conn.sendall(chunk)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], chunks
    thread.join(timeout=5)
    listener.close()


def test_an_array_reply_split_across_reads_is_read_whole(server: tuple[int, list[bytes]]) -> None:
    port, chunks = server
    chunks += [b"*2\r\n$3\r\ndir\r\n$1", b"0\r\n/var/lib/x\r", b"\n"]
    assert redis_exchange("127.0.0.1", port, 2.0, "", "CONFIG", "GET", "dir")[:5] == [
        b"*2",
        b"$3",
        b"dir",
        b"$10",
        b"/var/lib/x",
    ]


def test_the_auth_reply_is_dropped_and_the_commands_kept(server: tuple[int, list[bytes]]) -> None:
    port, chunks = server
    chunks += [b"+OK\r\n", b"+PONG\r\n"]
    assert redis_exchange("127.0.0.1", port, 2.0, "pw", "PING")[:1] == [b"+PONG"]


def test_an_error_reply_is_a_sentence(server: tuple[int, list[bytes]]) -> None:
    port, chunks = server
    chunks += [b"-WRONGPASS invalid username-password pair\r\n+PONG\r\n"]
    assert redis_exchange("127.0.0.1", port, 2.0, "pw", "PING") == (
        "redis: WRONGPASS invalid username-password pair"
    )


def test_a_closed_connection_before_the_reply_is_said(server: tuple[int, list[bytes]]) -> None:
    port, chunks = server
    chunks += [b"*2\r\n$3\r\ndir\r\n"]  # then the server hangs up mid-array
    assert redis_exchange("127.0.0.1", port, 2.0, "", "CONFIG", "GET", "dir") == (
        "connection closed before the reply"
    )

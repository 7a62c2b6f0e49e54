"""The PostgreSQL probe's wire protocol against a scripted server (one connection, one thread):
each authentication method a server may ask for, and each way the exchange can say no.

SCRAM-SHA-256 against a real server is covered by every integration start (initdb's
``--auth-host=scram-sha-256``); trust by ``test_no_password``.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from realstack import pgwire

Script = Callable[["Peer"], object]


class Peer:
    """The server's side of one connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")

    def startup(self) -> dict[str, str]:
        (size,) = struct.unpack("!I", self.file.read(4))
        body = self.file.read(size - 4)
        words = body[4:].rstrip(b"\0").split(b"\0")
        return dict(
            zip(map(bytes.decode, words[0::2]), map(bytes.decode, words[1::2]), strict=True)
        )

    def receive(self) -> tuple[bytes, bytes]:
        kind, size = struct.unpack("!cI", self.file.read(5))
        return kind, self.file.read(size - 4)

    def send(self, kind: bytes, body: bytes) -> None:
        self.sock.sendall(kind + struct.pack("!I", len(body) + 4) + body)

    def auth(self, code: int, extra: bytes = b"") -> None:
        self.send(b"R", struct.pack("!I", code) + extra)

    def error(self, message: str) -> None:
        self.send(b"E", b"SFATAL\0C28P01\0M" + message.encode() + b"\0\0")

    def ready_and_answer(self, value: bytes = b"1") -> None:
        """After login: ReadyForQuery, then one query answered with one row of ``value``."""
        self.send(b"S", b"server_version\x0016\0")
        self.send(b"Z", b"I")
        kind, body = self.receive()
        assert (kind, body) == (b"Q", b"SELECT 1\0")
        self.send(b"T", b"\0\x01?column?\0" + bytes(18))
        self.send(b"N", b"SNOTICE\0Mjust saying\0\0")
        self.send(b"D", struct.pack("!HI", 1, len(value)) + value)
        self.send(b"C", b"SELECT 1\0")
        self.send(b"Z", b"I")


@contextmanager
def server(script: Script) -> Iterator[int]:
    """A listening socket whose first connection runs ``script``; its failures fail the test."""
    failures: list[BaseException] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                try:
                    script(Peer(conn))
                except BaseException as exc:  # noqa: BLE001 - reported by the test
                    failures.append(exc)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            yield listener.getsockname()[1]
        finally:
            thread.join(10)
    if failures:
        raise failures[0]


def probe(port: int, password: str = "pw") -> None:
    pgwire.select_one("127.0.0.1", port, "app", password, "appdb", 5)


def test_trust_logs_in_with_user_and_database() -> None:
    def script(peer: Peer) -> None:
        assert peer.startup() == {"user": "app", "database": "appdb"}
        peer.auth(pgwire.AUTH_OK)
        peer.ready_and_answer()

    with server(script) as port:
        probe(port)


def test_cleartext_sends_the_password() -> None:
    def script(peer: Peer) -> None:
        peer.startup()
        peer.auth(pgwire.AUTH_CLEARTEXT)
        assert peer.receive() == (b"p", b"pw\0")
        peer.auth(pgwire.AUTH_OK)
        peer.ready_and_answer()

    with server(script) as port:
        probe(port)


def test_md5_sends_the_salted_hash() -> None:
    salt = b"\x01\x02\x03\x04"
    inner = hashlib.md5(b"pwapp").hexdigest().encode()  # the protocol's hash
    want = b"md5" + hashlib.md5(inner + salt).hexdigest().encode() + b"\0"

    def script(peer: Peer) -> None:
        peer.startup()
        peer.auth(pgwire.AUTH_MD5, salt)
        assert peer.receive() == (b"p", want)
        peer.auth(pgwire.AUTH_OK)
        peer.ready_and_answer()

    with server(script) as port:
        probe(port)


def test_a_refused_login_says_what_the_server_said() -> None:
    def script(peer: Peer) -> None:
        peer.startup()
        peer.error('password authentication failed for user "app"')

    with server(script) as port, pytest.raises(pgwire.Refused) as info:
        probe(port)
    assert str(info.value) == 'FATAL:  password authentication failed for user "app"'


def test_a_password_request_without_a_password_is_refused_like_libpq() -> None:
    def script(peer: Peer) -> None:
        peer.startup()
        peer.auth(pgwire.AUTH_CLEARTEXT)

    with server(script) as port, pytest.raises(pgwire.Refused, match="no password supplied"):
        probe(port, password="")


def test_a_server_starting_up_is_not_ready() -> None:
    def script(peer: Peer) -> None:
        peer.startup()
        peer.error("the database system is starting up")

    with server(script) as port, pytest.raises(pgwire.Refused, match="starting up"):
        probe(port)


def test_a_wrong_answer_to_the_query_is_not_ready() -> None:
    def script(peer: Peer) -> None:
        peer.startup()
        peer.auth(pgwire.AUTH_OK)
        peer.ready_and_answer(b"2")

    with server(script) as port, pytest.raises(pgwire.Refused, match="did not return 1"):
        probe(port)


def test_a_closed_connection_is_not_ready() -> None:
    with server(lambda peer: peer.startup()) as port, pytest.raises(pgwire.Refused, match="closed"):
        probe(port)


def test_an_unknown_sasl_mechanism_is_named() -> None:
    def script(peer: Peer) -> None:
        peer.startup()
        peer.auth(pgwire.AUTH_SASL, b"SCRAM-SHA-256-PLUS\0\0")

    with server(script) as port, pytest.raises(pgwire.Refused, match="SCRAM-SHA-256-PLUS"):
        probe(port)


def test_a_forged_scram_server_signature_is_refused() -> None:
    """The server must prove it knows the password too: a wrong ``v=`` is no login."""

    def script(peer: Peer) -> None:
        peer.startup()
        peer.auth(pgwire.AUTH_SASL, b"SCRAM-SHA-256\0\0")
        kind, body = peer.receive()
        first = body[len(b"SCRAM-SHA-256\0") + 4 :].decode()
        nonce = first.split("r=", 1)[1]
        peer.auth(pgwire.AUTH_SASL_CONTINUE, f"r={nonce}srv,s=c2FsdA==,i=4096".encode())
        kind, body = peer.receive()
        assert kind == b"p" and body.startswith(f"c=biws,r={nonce}srv,p=".encode())
        peer.auth(pgwire.AUTH_SASL_FINAL, b"v=Zm9yZ2Vk")

    with server(script) as port, pytest.raises(pgwire.Refused, match="signature"):
        probe(port)


def test_a_server_that_is_not_postgres_is_refused_with_a_message() -> None:
    """A malformed reply (here an authentication request too short to hold its code) is a
    refusal saying so, never an exception the probe does not expect."""

    def script(peer: Peer) -> None:
        peer.startup()
        peer.send(b"R", b"\0")

    with server(script) as port, pytest.raises(pgwire.Refused, match="not a PostgreSQL"):
        probe(port)


def test_a_garbled_scram_challenge_is_refused_with_a_message() -> None:
    def script(peer: Peer) -> None:
        peer.startup()
        peer.auth(pgwire.AUTH_SASL, b"SCRAM-SHA-256\0\0")
        peer.receive()
        peer.auth(pgwire.AUTH_SASL_CONTINUE, b"garbage")

    with server(script) as port, pytest.raises(pgwire.Refused, match="not a PostgreSQL"):
        probe(port)

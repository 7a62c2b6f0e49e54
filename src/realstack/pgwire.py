"""``SELECT 1`` over PostgreSQL's wire protocol (v3) on a plain socket: the readiness probe
(and the identity handshake's one-value query).

A probe runs in every health gate and in every ``services.status`` / warm ``services.start``;
psycopg's import alone costs more than the whole check. This speaks just enough of the
protocol to prove what the client did: the server accepts this user on this database with
this password (trust, cleartext, MD5 or SCRAM-SHA-256) and answers a query. No TLS: the
stacks realstack runs listen in plain text; a deployed database keeps psycopg
(:func:`realstack.probes_deployed.postgres_url_check`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import struct
import unicodedata

PROTOCOL_3 = 196608  # version 3.0, as a StartupMessage gives it
# Authentication request codes (message "R")
AUTH_OK = 0
AUTH_CLEARTEXT = 3
AUTH_MD5 = 5
AUTH_SASL = 10
AUTH_SASL_CONTINUE = 11
AUTH_SASL_FINAL = 12


class Refused(Exception):
    """The server (or the exchange) said no; the message is what a user should read, and
    ``code`` the server's SQLSTATE when it sent one."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class _Conn:
    """One connection's framing: typed messages in, typed messages out."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def send(self, kind: bytes, body: bytes) -> None:
        self.sock.sendall(kind + struct.pack("!I", len(body) + 4) + body)

    def _read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Refused("server closed the connection unexpectedly")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def receive(self) -> tuple[bytes, bytes]:
        """The next message other than notices; an ErrorResponse raises :class:`Refused`."""
        while True:
            kind, size = struct.unpack("!cI", self._read(5))
            body = self._read(size - 4)
            if kind == b"E":
                raise Refused(_error_text(body), _field(body, b"C"))
            if kind != b"N":  # notices say nothing about readiness
                return kind, body


def _error_text(body: bytes) -> str:
    """An ErrorResponse as libpq prints it: ``FATAL:  password authentication failed …``."""
    return f"{_field(body, b'S') or 'ERROR'}:  {_field(body, b'M') or 'unknown error'}"


def _field(body: bytes, code: bytes) -> str:
    """One field of an ErrorResponse (``S`` severity, ``M`` message, ``C`` SQLSTATE)."""
    for item in body.split(b"\0"):
        if item[:1] == code:
            return item[1:].decode(errors="replace")
    return ""


def _cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def _saslprep(password: str) -> bytes:
    """What the server hashed: ASCII as it is, anything else NFKC-normalised (SASLprep's core;
    PostgreSQL, like libpq, falls back to the raw bytes where SASLprep would refuse)."""
    return (password if password.isascii() else unicodedata.normalize("NFKC", password)).encode()


def _scram(conn: _Conn, mechanisms: bytes, password: str) -> None:
    """SCRAM-SHA-256 (RFC 5802/7677) without channel binding, the server's signature checked."""
    if b"SCRAM-SHA-256" not in mechanisms.split(b"\0"):
        offered = mechanisms.decode(errors="replace").strip("\0").replace("\0", ", ")
        raise Refused(f"no supported SASL mechanism among {offered}")
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n=,r={nonce}"
    first = ("n,," + first_bare).encode()
    conn.send(b"p", _cstr("SCRAM-SHA-256") + struct.pack("!I", len(first)) + first)
    kind, body = conn.receive()
    code = struct.unpack("!I", body[:4])[0] if kind == b"R" else None
    if code != AUTH_SASL_CONTINUE:
        raise Refused("unexpected reply to the SCRAM first message")
    server_first = body[4:].decode()
    parts = dict(item.split("=", 1) for item in server_first.split(","))
    if not parts.get("r", "").startswith(nonce):
        raise Refused("SCRAM: the server's nonce does not extend ours")
    salted = hashlib.pbkdf2_hmac(
        "sha256", _saslprep(password), base64.b64decode(parts["s"]), int(parts["i"])
    )
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    final_bare = f"c=biws,r={parts['r']}"
    message = f"{first_bare},{server_first},{final_bare}".encode()
    signature = hmac.digest(hashlib.sha256(client_key).digest(), message, "sha256")
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True)))
    conn.send(b"p", f"{final_bare},p={proof.decode()}".encode())
    kind, body = conn.receive()
    code = struct.unpack("!I", body[:4])[0] if kind == b"R" else None
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    expected = b"v=" + base64.b64encode(hmac.digest(server_key, message, "sha256"))
    if code != AUTH_SASL_FINAL or not hmac.compare_digest(body[4:].strip(), expected):
        raise Refused("SCRAM: the server's signature does not match")


def _authenticate(conn: _Conn, user: str, password: str) -> None:
    """Answer the server's authentication request until it says AuthenticationOk."""
    while True:
        kind, body = conn.receive()
        if kind != b"R":
            raise Refused(f"unexpected message {kind!r} during authentication")
        code = struct.unpack("!I", body[:4])[0]
        if code == AUTH_OK:
            return
        if code in (AUTH_CLEARTEXT, AUTH_MD5, AUTH_SASL) and not password:
            raise Refused("fe_sendauth: no password supplied")
        if code == AUTH_CLEARTEXT:
            conn.send(b"p", _cstr(password))
        elif code == AUTH_MD5:
            inner = hashlib.md5((password + user).encode()).hexdigest().encode()  # noqa: S324
            conn.send(b"p", _cstr("md5" + hashlib.md5(inner + body[4:8]).hexdigest()))  # noqa: S324
        elif code == AUTH_SASL:
            _scram(conn, body[4:], password)
        else:
            raise Refused(f"unsupported authentication method (code {code})")


def select_one(
    host: str, port: int, user: str, password: str, database: str, timeout: float
) -> None:
    """Log in and run ``SELECT 1``; raise :class:`Refused` or :class:`OSError` saying why not.

    ``timeout`` bounds each socket operation, as libpq's ``connect_timeout`` bounds connecting.
    """
    if query_value(host, port, user, password, database, timeout, "SELECT 1") != "1":
        raise Refused("SELECT 1 did not return 1")


def query_value(
    host: str, port: int, user: str, password: str, database: str, timeout: float, sql: str
) -> str | None:
    """Log in and run ``sql``: the first column of its first row (None: NULL or no row)."""
    if host.startswith("/"):  # a socket directory, as libpq reads a host that is a path
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.settimeout(timeout)
            sock.connect(f"{host}/.s.PGSQL.{port}")
        except OSError:
            sock.close()
            raise
    else:
        sock = socket.create_connection((host, port), timeout=timeout)
    try:
        with sock:
            rows = _exchange(_Conn(sock), user, password, database, sql)
            if not rows:
                return None
            (columns,) = struct.unpack("!H", rows[0][:2])
            (size,) = struct.unpack("!i", rows[0][2:6]) if columns else (-1,)
            return None if size < 0 else rows[0][6 : 6 + size].decode()
    except (struct.error, ValueError, KeyError, IndexError) as exc:  # what a stranger answers
        raise Refused(f"not a PostgreSQL server's reply ({type(exc).__name__}: {exc})") from None


def _exchange(conn: _Conn, user: str, password: str, database: str, sql: str) -> list[bytes]:
    """Startup, login, one simple query, goodbye; the data rows it answered."""
    params = _cstr("user") + _cstr(user) + _cstr("database") + _cstr(database or user)
    body = struct.pack("!I", PROTOCOL_3) + params + b"\0"
    conn.sock.sendall(struct.pack("!I", len(body) + 4) + body)
    _authenticate(conn, user, password)
    while conn.receive()[0] != b"Z":  # parameters, key data, then ReadyForQuery
        pass
    conn.send(b"Q", _cstr(sql))
    rows = []
    while (reply := conn.receive())[0] != b"Z":
        if reply[0] == b"D":
            rows.append(reply[1])
    conn.send(b"X", b"")
    return rows

"""Names, locks and raw statements for the databases the plugin makes beside the contract's.

Every database realstack makes is ``<stem>_rs_…`` where the stem is the contract's database
name (shortened with a hash when a name would pass PostgreSQL's 63-byte limit, which would
otherwise truncate it silently). Clean-up only ever matches these exact shapes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

if TYPE_CHECKING:
    import psycopg

MAX_IDENTIFIER = 63  # bytes (NAMEDATALEN - 1)
_LONGEST_SUFFIX = len("_rs_gw999_0123abcd_9999999")
_MAX_STEM = MAX_IDENTIFIER - _LONGEST_SUFFIX
KEY_LENGTH = 10


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def stem_of(database: str) -> str:
    """``database`` itself, or its start plus a hash when the longest name would not fit."""
    if len(database.encode()) <= _MAX_STEM:
        return database
    head = database.encode()[: _MAX_STEM - 9].decode(errors="ignore")
    return f"{head}_{_digest(database).hex()[:8]}"


@dataclass(frozen=True)
class Names:
    """The names derived from one contract database (``base``)."""

    base: str

    @property
    def stem(self) -> str:
        return stem_of(self.base)

    def worker(self, worker: str) -> str:
        return f"{self.stem}_rs_{worker}"

    def template(self, key: str) -> str:
        return f"{self.stem}_rs_tpl_{key}"

    def scratch(self, key: str) -> str:
        """Where a template is built before it is renamed into place (never half a template)."""
        return f"{self.stem}_rs_tpn_{key}"

    def fresh(self, worker: str, token: str, number: int) -> str:
        return f"{self.stem}_rs_{worker}_{token}_{number}"

    def _match(self, tail: str, name: str) -> re.Match[str] | None:
        return re.fullmatch(re.escape(self.stem) + tail, name)

    def template_key(self, name: str) -> str | None:
        found = self._match(rf"_rs_tpl_([0-9a-f]{{{KEY_LENGTH}}})", name)
        return found.group(1) if found else None

    def is_scratch(self, name: str) -> bool:
        return self._match(rf"_rs_tpn_[0-9a-f]{{{KEY_LENGTH}}}", name) is not None

    def fresh_token(self, name: str) -> str | None:
        found = self._match(r"_rs_[A-Za-z0-9]+_([0-9a-f]{8})_[0-9]+", name)
        return found.group(1) if found else None


def lock_id(*parts: str) -> int:
    """A bigint advisory-lock key for ``parts`` (advisory locks are per database: every
    participant takes them on the same maintenance database)."""
    return int.from_bytes(_digest("\0".join(("realstack", *parts)))[:8], "big", signed=True)


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    path = "/" + quote(database, safe="")
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def database_of(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def masked(url: str) -> str:
    """``url`` with its password shown as ``***`` (what reports may print)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit((parts.scheme, f"{user}:***@{hostinfo}", *parts[2:]))


def _error_class(sqlstate: str) -> type[Exception]:
    import psycopg  # noqa: PLC0415

    try:
        return psycopg.errors.lookup(sqlstate)
    except KeyError:
        return psycopg.DatabaseError


class RawConnection:
    """A bare libpq connection, beside psycopg's ``Connection``.

    The plugin's real-I/O audit watches psycopg's ``Connection.connect`` and
    ``Cursor.execute``; work done for the session in a background thread (cloning and
    dropping per-test databases) must not count as the running test talking to a service.
    """

    def __init__(self, url: str, connect_timeout: int = 10) -> None:
        from psycopg import conninfo, pq  # noqa: PLC0415

        info = conninfo.make_conninfo(url, connect_timeout=connect_timeout)
        self.pgconn = pq.PGconn.connect(info.encode())
        if self.pgconn.status != pq.ConnStatus.OK:
            message = self.pgconn.error_message.decode(errors="replace").strip()
            self.pgconn.finish()
            raise _error_class("08001")(message)
        self._escaping = pq.Escaping(self.pgconn)

    @property
    def broken(self) -> bool:
        from psycopg import pq  # noqa: PLC0415

        return self.pgconn.status != pq.ConnStatus.OK

    def ident(self, name: str) -> bytes:
        return self._escaping.escape_identifier(name.encode())

    def literal(self, value: str) -> bytes:
        return self._escaping.escape_literal(value.encode())

    def run(self, statement: bytes) -> list[tuple[str | None, ...]]:
        """The rows of ``statement`` as text, or psycopg's exception for its SQLSTATE."""
        from psycopg import pq  # noqa: PLC0415

        result = self.pgconn.exec_(statement)
        if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
            state = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
            message = (result.error_message or b"").decode(errors="replace").strip()
            if self.broken:  # the server went away (restarted, killed): a connection problem
                state = "08006"
            raise _error_class(state or "XX000")(message)
        return [
            tuple(
                None if (v := result.get_value(r, c)) is None else v.decode()
                for c in range(result.nfields)
            )
            for r in range(result.ntuples)
        ]

    def close(self) -> None:
        self.pgconn.finish()


def connect_ahead(url: str) -> psycopg.Connection[tuple[Any, ...]] | None:
    """An autocommit connection for a test still to come, or None (it connects itself then).

    Made on a background thread through libpq, not psycopg's ``connect``: the audit counts
    that as the running test's I/O.
    """
    import psycopg  # noqa: PLC0415

    try:
        raw = RawConnection(url)
    except psycopg.OperationalError:
        return None
    conn = psycopg.Connection(raw.pgconn)
    conn.autocommit = True
    return conn


def still_connected(conn: psycopg.Connection[tuple[Any, ...]]) -> bool:
    """Whether a connection made ahead still reaches its server (a test may have restarted
    it since): one empty statement on libpq, which leaves psycopg's state alone."""
    from psycopg import pq  # noqa: PLC0415

    if conn.closed or conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    return conn.pgconn.exec_(b"").status == pq.ExecStatus.EMPTY_QUERY

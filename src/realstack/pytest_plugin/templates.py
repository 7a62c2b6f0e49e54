"""The template database that worker and per-test databases are cloned from.

A copy of the contract's (migrated) database, made once and reused by every later session and
xdist worker while its key holds. The key hashes what produced the source:

- the completion keys of the stack's one-shot tasks (migrations, seeds), and
- the source database's OID. Templates live in the source's cluster, so a new cluster (purged,
  re-copied, a new volume) has none to reuse; within one cluster, dropping and recreating the
  source gives it a new OID (OIDs are not reused before 2^32 wrap-around), while a restart, a
  crash or a statistics reset leave it alone. ``pg_stat_database.stats_reset`` changes on
  crash recovery (needless rebuilds); the cluster's system identifier adds nothing, since
  every realstack cluster is copied from one initdb and shares it.

Creation is serialised by an advisory lock on the maintenance database: PostgreSQL refuses a
clone while another session is connected to the template being built. A finished template is
marked ``IS_TEMPLATE`` and closed to connections (like template0: a stray psql session would
block every clone). Every session holds a shared lock on the template it uses, so a session
with another key drops old templates only when nobody uses them (a later session drops the
rest).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from realstack.errors import RealstackError
from realstack.pytest_plugin import _pgcopy
from realstack.pytest_plugin._pgsql import (
    KEY_LENGTH,
    Names,
    database_of,
    lock_id,
    still_connected,
    with_database,
)

if TYPE_CHECKING:
    from realstack.model import Stack

FORMAT = "1"  # bump when the way a template is made changes
MAINTENANCE = ("postgres", "template1")
CREATE_WAIT = "300s"  # a template is built in well under a second; a holder that dies frees it

Conn = psycopg.Connection[tuple[Any, ...]]


def completion_keys(stack: Stack) -> dict[str, str]:
    """Task name → key of its last successful run ({} when the stack has no one-shot tasks)."""
    from realstack import oneshot  # noqa: PLC0415 - only sessions that make a template

    return oneshot.completion_keys(stack)


def connect_maintenance(source_url: str) -> Conn:
    """An autocommit connection to a database other than the source (a clone of the source
    needs nobody connected to it), the same one every session picks (advisory locks are per
    database)."""
    source = database_of(source_url)
    last: psycopg.Error | None = None
    for name in (n for n in MAINTENANCE if n != source):
        try:
            return psycopg.connect(with_database(source_url, name), autocommit=True)
        except (psycopg.errors.InvalidCatalogName, psycopg.errors.InsufficientPrivilege) as exc:
            last = exc
    raise RealstackError(f"no maintenance database to work from ({', '.join(MAINTENANCE)}): {last}")


def template_key(admin: Conn, stack: Stack, source: str) -> str:
    row = admin.execute("SELECT oid FROM pg_database WHERE datname = %s", (source,)).fetchone()
    if row is None:
        raise RealstackError(f"the contract's database {source!r} does not exist")
    material = {"format": FORMAT, "source_oid": int(row[0]), "tasks": completion_keys(stack)}
    digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    return digest[:KEY_LENGTH]


@contextlib.contextmanager
def _exclusive(admin: Conn, key: int) -> Iterator[None]:
    admin.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(CREATE_WAIT)))
    try:
        admin.execute("SELECT pg_advisory_lock(%s)", (key,))
    except psycopg.errors.LockNotAvailable:
        raise RealstackError(
            f"another session kept the template lock for {CREATE_WAIT} (a hung test run?)"
        ) from None
    finally:
        admin.execute("RESET lock_timeout")
    try:
        yield
    finally:
        admin.execute("SELECT pg_advisory_unlock(%s)", (key,))


def databases(admin: Conn) -> list[str]:
    return [str(r[0]) for r in admin.execute("SELECT datname FROM pg_database").fetchall()]


def drop_template(admin: Conn, name: str) -> None:
    """Drop a template of ours (a template must be unmarked before it can be dropped)."""
    ident = sql.Identifier(name)
    admin.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(ident))
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident))


def _is_ready(admin: Conn, name: str) -> bool:
    query = "SELECT 1 FROM pg_database WHERE datname = %s AND datistemplate"
    return admin.execute(query, (name,)).fetchone() is not None


def _build(admin: Conn, names: Names, key: str, source_url: str, tools: Callable[[], Path]) -> None:
    """Copy the source under a scratch name, then mark and rename it in one transaction: a
    creator killed half-way leaves a scratch database (dropped by the next one), never a
    template that looks complete."""
    scratch, name = names.scratch(key), names.template(key)
    # a dead creator's scratch copy, or the name unmarked by hand: ours, and not a template
    for leftover in [*filter(names.is_scratch, databases(admin)), name]:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        admin.execute(drop.format(sql.Identifier(leftover)))
    _pgcopy.copy_database(admin, source_url, scratch, tools)
    with admin.transaction():
        # no connections either (like template0): a stray psql session would block clones
        admin.execute(
            sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(
                sql.Identifier(scratch)
            )
        )
        admin.execute(
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(scratch), sql.Identifier(name)
            )
        )


def _drop_unused(admin: Conn, names: Names, keep: str) -> list[str]:
    """Templates of this source with another key that no session holds."""
    dropped = []
    for name in databases(admin):
        if name == keep or names.template_key(name) is None:
            continue
        key = lock_id("template", name)
        if admin.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() == (True,):
            try:
                drop_template(admin, name)
                dropped.append(name)
            finally:
                admin.execute("SELECT pg_advisory_unlock(%s)", (key,))
    return dropped


@dataclass
class TemplateLease:
    """This session's hold on a ready template: cloning from it is safe until :meth:`close`."""

    held: Conn  # holds the session-level shared lock; closing it releases the lease
    names: Names
    name: str
    source_url: str

    @property
    def admin(self) -> Conn:
        """The lease's connection. One the server cut (PostgreSQL restarted by a test, in any
        xdist worker or run) is made again, and the template's shared lock taken again."""
        if not still_connected(self.held):
            self.held.close()
            self.held = _holding(connect_maintenance(self.source_url), self.name)
        return self.held

    def url(self, database: str) -> str:
        return with_database(self.source_url, database)

    def close(self) -> None:
        self.held.close()


def _holding(admin: Conn, name: str) -> Conn:
    admin.execute("SELECT pg_advisory_lock_shared(%s)", (lock_id("template", name),))
    return admin


def lease(stack: Stack, source_url: str, tools: Callable[[], Path]) -> TemplateLease:
    """The template for ``source_url`` as it is now: reused, or built (and old ones dropped)."""
    admin = connect_maintenance(source_url)
    try:
        names = Names(database_of(source_url))
        key = template_key(admin, stack, names.base)
        name = names.template(key)
        with _exclusive(admin, lock_id("create", names.stem)):
            if not _is_ready(admin, name):
                _build(admin, names, key, source_url, tools)
            _drop_unused(admin, names, keep=name)
            _holding(admin, name)
    except BaseException:
        admin.close()
        raise
    return TemplateLease(admin, names, name, source_url)

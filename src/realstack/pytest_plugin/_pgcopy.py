"""Copy the contract's database into a new one: a file-level clone when nobody uses it, else a
dump and restore.

``CREATE DATABASE … TEMPLATE`` is an exact copy in milliseconds, but PostgreSQL refuses it
while anyone else is connected to the source (SQLSTATE 55006, after waiting 5 s), and the
stack's own services keep pooled connections to the contract's database. Then the copy is
``pg_dump | pg_restore`` with the client programs beside the server binaries realstack uses;
the password goes to them through the environment, never through their argument lists.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from realstack.errors import RealstackError
from realstack.pytest_plugin._pgsql import database_of, with_database

FILE_COPY_SINCE = 150000  # PG 15: CREATE DATABASE … STRATEGY


def strategy(conn: psycopg.Connection[Any]) -> str:
    """How to clone here: FILE_COPY on a non-durable PG 15+ cluster, else the default WAL_LOG.

    Measured here on a small migrated schema (8 MB): with fsync off FILE_COPY is 5-10 %
    faster than WAL_LOG (it copies files, where WAL_LOG writes every page to the WAL); with
    fsync on it is ~50 % slower (it syncs every file it copied, and two checkpoints).
    """
    if conn.info.server_version < FILE_COPY_SINCE:
        return ""
    row = conn.execute("SHOW fsync").fetchone()
    return " STRATEGY FILE_COPY" if row is not None and row[0] == "off" else ""


def clone_sql(conn: psycopg.Connection[Any], target: str, template: str) -> sql.Composed:
    """``CREATE DATABASE target TEMPLATE template`` with the faster strategy here."""
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(target), sql.Identifier(template)
    )
    return statement + sql.SQL(strategy(conn))


def others_connected(conn: psycopg.Connection[Any], database: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (database,),
    ).fetchone()
    return int(row[0]) if row else 0


def copy_database(
    admin: psycopg.Connection[Any], source_url: str, target: str, tools: Callable[[], Path]
) -> str:
    """Make ``target`` a copy of the database at ``source_url``; returns how ("clone"/"dump").

    ``tools`` finds the directory of pg_dump/pg_restore, asked only when they are needed.
    """
    source = database_of(source_url)
    if not others_connected(admin, source):
        try:
            admin.execute(clone_sql(admin, target, source))
            return "clone"
        except psycopg.errors.ObjectInUse:
            pass  # a client connected in between: copy it the other way
    _dump_restore(admin, source_url, target, tools())
    return "dump"


def _client_env(url: str) -> tuple[str, dict[str, str]]:
    """A conninfo without the password, and an environment carrying it."""
    params = psycopg.conninfo.conninfo_to_dict(url)
    password = params.pop("password", None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return psycopg.conninfo.make_conninfo("", **params), env


def _dump_restore(
    admin: psycopg.Connection[Any], source_url: str, target: str, bin_dir: Path
) -> None:
    source = database_of(source_url)
    missing = [n for n in ("pg_dump", "pg_restore") if not (bin_dir / n).is_file()]
    if missing:
        raise RealstackError(
            f"the contract's database {source!r} is in use by other clients (the stack's "
            "services), so it cannot be cloned with CREATE DATABASE … TEMPLATE, and "
            f"{', '.join(missing)} is not in {bin_dir}: install the PostgreSQL client programs "
            "there, or stop the services that use the database before the test run"
        )
    row = admin.execute(
        "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database "
        "WHERE datname = %s",
        (source,),
    ).fetchone()
    if row is None:
        raise RealstackError(f"the contract's database {source!r} does not exist")
    admin.execute(
        sql.SQL(
            "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}"
        ).format(sql.Identifier(target), *(sql.Literal(v) for v in row))
    )
    dump_info, dump_env = _client_env(source_url)
    restore_info, restore_env = _client_env(with_database(source_url, target))
    with tempfile.TemporaryFile() as dump_err:
        dump = subprocess.Popen(
            [str(bin_dir / "pg_dump"), "--format=custom", f"--dbname={dump_info}"],
            stdout=subprocess.PIPE,
            stderr=dump_err,
            env=dump_env,
        )
        with dump:
            restore = subprocess.run(
                [str(bin_dir / "pg_restore"), "--exit-on-error", f"--dbname={restore_info}"],
                stdin=dump.stdout,
                capture_output=True,
                env=restore_env,
                check=False,
            )
        dump_err.seek(0)
        if dump.returncode != 0 or restore.returncode != 0:
            out = (dump_err.read() + restore.stderr).decode(errors="replace").strip()
            raise RealstackError(f"copying {source!r} with pg_dump | pg_restore failed: {out}")

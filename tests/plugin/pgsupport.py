"""Helpers of the database tests: the throwaway project's cluster, seen from outside the
inner runs (what databases exist, a migration of the contract's database)."""

from __future__ import annotations

import re

import psycopg

from conftest import Project

SCHEMA = "CREATE TABLE plans (name text); INSERT INTO plans VALUES ('pro');"
PREFIX = "plugin_db_rs_"


def url_of(project: Project, database: str) -> str:
    """The contract's URL with another database."""
    return project.stack().service("postgres").url.rsplit("/", 1)[0] + "/" + database


def connect_admin(project: Project) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url_of(project, "postgres"), autocommit=True)


def migrate(project: Project, schema: str = SCHEMA) -> None:
    """Recreate the contract's database with ``schema`` (what a migration task leaves)."""
    with connect_admin(project) as admin:
        admin.execute("DROP DATABASE IF EXISTS plugin_db WITH (FORCE)")
        admin.execute("CREATE DATABASE plugin_db")
    with psycopg.connect(url_of(project, "plugin_db"), autocommit=True) as conn:
        conn.execute(schema)


def databases(project: Project) -> dict[str, int]:
    """Name → OID of every database of the cluster (an OID changes when it is recreated)."""
    with connect_admin(project) as admin:
        rows = admin.execute("SELECT datname, oid FROM pg_database").fetchall()
    return {str(name): int(str(oid)) for name, oid in rows}


def templates(project: Project) -> dict[str, int]:
    """Templates: ``<db>_rs_tpl_<key>``."""
    shape = re.compile(PREFIX + "tpl_[0-9a-f]{10}")
    return {k: v for k, v in databases(project).items() if shape.fullmatch(k)}


def fresh(project: Project) -> set[str]:
    """Per-test databases: ``<db>_rs_<worker>_<token>_<n>``."""
    shape = re.compile(PREFIX + r"(main|gw\d+)_[0-9a-f]{8}_\d+")
    return {k for k in databases(project) if shape.fullmatch(k)}


SEES_PLANS = """
    import json, os, pathlib

    def test_sees_the_migrated_rows(pg_conn):
        assert pg_conn.execute("SELECT name FROM plans").fetchall() == [("pro",)]
        (database,) = pg_conn.execute("SELECT current_database()").fetchone()
        pathlib.Path({out!r}).write_text(database)
"""

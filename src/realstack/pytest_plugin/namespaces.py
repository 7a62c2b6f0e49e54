"""Per-worker isolation on the shared stack: a PostgreSQL database and a Redis db index each.

Services keep using the contract's database; tests that write their own data get a namespace
of their own, so two xdist workers (or two concurrent runs) never see each other's rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

REDIS_DATABASES = 16  # Redis' default `databases`


@dataclass(frozen=True)
class Namespace:
    """Where one worker's test data lives."""

    worker: str  # "main" without xdist, else gw0, gw1 …
    database_url: str
    redis_url: str


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _worker_index(worker: str) -> int:
    return int(worker[2:]) + 1 if worker.startswith("gw") and worker[2:].isdigit() else 0


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def redis_namespace_url(redis_url: str, worker: str) -> str:
    """The contract's Redis with the db index moved past the services' own (mod 16)."""
    base = int(urlsplit(redis_url).path.strip("/") or 0)
    return _with_path(redis_url, f"/{(base + 1 + _worker_index(worker)) % REDIS_DATABASES}")


def postgres_namespace(database_url: str, worker: str) -> str:
    """A fresh database for the worker beside the contract's (recreated each session)."""
    base = urlsplit(database_url).path.strip("/")
    name = sql.Identifier(f"{base}_rs_{worker}")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    return _with_path(database_url, f"/{base}_rs_{worker}")


def namespace_for(contract: dict[str, str]) -> Namespace:
    worker = worker_id()
    db_url = postgres_namespace(contract["DATABASE_URL"], worker)
    return Namespace(worker, db_url, redis_namespace_url(contract["REDIS_URL"], worker))

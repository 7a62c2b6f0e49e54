"""Per-worker isolation on the shared stack: a PostgreSQL database and a Redis db index each.

Services keep using the contract's database; tests that write their own data get a namespace
of their own, so two xdist workers never see each other's rows. The worker's database is a
clone of the template (:mod:`~realstack.pytest_plugin.templates`), so it starts migrated.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit, urlunsplit

from realstack import envfile
from realstack.errors import RealstackError

if TYPE_CHECKING:  # the clients load only in runs that use them
    import redis

    from realstack.model import Stack
    from realstack.pytest_plugin.templates import TemplateLease

REDIS_DATABASES = 16  # Redis' default `databases`
DATABASE_KEY = "DATABASE_URL"
REDIS_KEY = "REDIS_URL"

RedisSeed = tuple[tuple[bytes, bytes, int], ...]  # (key, DUMP payload, TTL in ms or 0)


@dataclass(frozen=True)
class Namespace:
    """Where one worker's test data lives (``None``: the session does not use that service)."""

    worker: str  # "main" without xdist, else gw0, gw1 … (``main_1``: a second session's)
    database_url: str | None
    redis_url: str | None
    redis_seed: RedisSeed = ()  # what the seed hook wrote, restored after each test's flush


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _worker_index(worker: str) -> int:
    return int(worker[2:]) + 1 if worker.startswith("gw") and worker[2:].isdigit() else 0


_slots: dict[Path, tuple[str, int]] = {}  # per instance: the namespace this process holds


def claim_slot(state_dir: Path) -> tuple[str, int]:
    """This process's namespace of the instance, as (name, index), held until it ends.

    Its worker's own (``main``, ``gw0`` …) unless another pytest session of the same checkout
    holds that one right now (a second terminal, an IDE's runner): then the first free index,
    named ``<worker>_<index>``. Before, both sessions used ``main``: each recreated the
    other's database under it and flushed its Redis db. The hold is an ``flock`` on a file
    per index; the kernel drops it when the process ends, however it ends.
    """
    held = _slots.get(state_dir)
    if held is not None:
        return held
    worker = worker_id()
    own = _worker_index(worker)
    where = state_dir / "namespaces"
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError:  # a state dir this run cannot write (another user's stack): unheld, as before
        return worker, own
    for index in (own, *(i for i in range(REDIS_DATABASES - 1) if i != own)):
        try:
            fd = os.open(where / f"{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return worker, own
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _slots[state_dir] = held = (worker if index == own else f"{worker}_{index}", index)
        return held  # the descriptor stays open: the hold lasts as long as the process
    raise RealstackError(
        f"all {REDIS_DATABASES - 1} test namespaces of this checkout's stack are held by "
        "other pytest sessions or workers running now"
    )


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def exported_by(stack: Stack, key: str) -> str | None:
    """The service whose exports define ``key`` in the env contract (the last one wins)."""
    names = [svc.name for svc in stack.services if key in svc.exports]
    return names[-1] if names else None


def redis_namespace_url(redis_url: str, index: int) -> str:
    """The contract's Redis with the db index moved past the services' own (mod 16)."""
    base = int(urlsplit(redis_url).path.strip("/") or 0)
    return _with_path(redis_url, f"/{(base + 1 + index) % REDIS_DATABASES}")


def contract_database(stack: Stack, used: Collection[str]) -> str | None:
    """The contract's DATABASE_URL when the session uses the service behind it, else None.

    A session whose tests only need Redis must run while PostgreSQL is down, so nothing is
    asked of PostgreSQL unless the service behind DATABASE_URL is one the session uses.
    """
    if exported_by(stack, DATABASE_KEY) not in used:
        return None
    return envfile.contract(stack)[DATABASE_KEY]


def postgres_namespace(template: TemplateLease, worker: str) -> str:
    """The worker's database, recreated each session as a clone of the template: the
    contract's migrated schema and rows, without each worker re-running the migrations."""
    from psycopg import sql  # noqa: PLC0415 - only runs that use PostgreSQL pay for it

    from realstack.pytest_plugin._pgcopy import clone_sql  # noqa: PLC0415

    name = template.names.worker(worker)
    admin = template.admin
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.execute(clone_sql(admin, name, template.name))
    return template.url(name)


def namespace_for(
    stack: Stack, used: Collection[str], template: TemplateLease | None = None
) -> Namespace:
    """This worker's namespace on the services in ``used``; the others are left alone.

    ``template`` is the session's hold on the template database (see
    :func:`contract_database`): without one, the namespace has no database.
    """
    if stack.deployed:  # a shared stack is not written to (getfixturevalue skips refusals)
        raise RealstackError(
            f"env {stack.env!r} is a deployed stack: realstack makes no databases there"
        )
    name, index = claim_slot(stack.state_dir)
    db_url = redis_url = None
    if template is not None:
        db_url = postgres_namespace(template, name)
    if exported_by(stack, REDIS_KEY) in used:
        redis_url = redis_namespace_url(envfile.contract(stack)[REDIS_KEY], index)
    return Namespace(name, db_url, redis_url)


def snapshot_redis(client: redis.Redis) -> RedisSeed:
    """The db's keys as DUMP payloads (``client`` must not decode responses)."""
    seed = []
    for key in client.scan_iter():
        payload = cast(bytes, client.dump(key))
        ttl = client.pttl(key)
        seed.append((cast(bytes, key), payload, max(ttl, 0)))
    return tuple(seed)


def reset_redis(redis_url: str, seed: RedisSeed) -> None:
    """Empty the db, then put the seed back: Redis has no rollback, unlike a transaction."""
    import redis  # noqa: PLC0415 - only runs that use Redis pay for it

    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
        for key, payload, ttl in seed:
            client.restore(key, ttl, payload)

"""The real-service patterns applications rely on, against PostgreSQL and Redis from realstack.

One throwaway project per module: the shared postgres + redis manifest plus a ``silent``
process service (accepts TCP connections, never answers), all on OS-assigned ports. Tests
make their own tables and keys (unique names), so they do not depend on each other's data.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from psycopg import sql
from redis.backoff import NoBackoff
from redis.client import PubSub
from redis.retry import Retry

from conftest import Project
from integration._support import MANIFEST, write_manifest
from realstack.envfile import contract
from realstack.waiting import wait_until

pytestmark = pytest.mark.integration

SERVERS = Path(__file__).with_name("_servers.py")
SILENT_SERVICE = f"""
[tool.realstack.services.silent]
kind = "process"
port = "${{SILENT_PORT}}"
command = ["{{python}}", "{SERVERS}", "silent", "{{port}}"]
"""
CLIENT_TIMEOUT = 0.5  # seconds: what each client is told to wait for an answer
# A client that honours its timeout returns long before this; one that hangs never does.
HANG_LIMIT = 15.0
WAIT = 5.0  # deadline for conditions that hold within milliseconds on a healthy server


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def patterns(module_project: Project) -> Project:
    """The shared project: postgres, redis (db 2) and the silent service on free ports."""
    return write_manifest(module_project, MANIFEST + SILENT_SERVICE, "SILENT_PORT")


@pytest.fixture
def env(patterns: Project) -> dict[str, str]:
    """The env contract of the shared project, with every service up (started or reused)."""
    report = patterns.start()
    assert report.ok, report.errors
    return contract(patterns.stack())


@pytest.fixture
def pg_url(env: dict[str, str]) -> str:
    return env["DATABASE_URL"]


@pytest.fixture
def table(pg_url: str) -> Iterator[sql.Identifier]:
    """A fresh table ``(id int primary key, n int not null)``, dropped afterwards."""
    name = sql.Identifier(f"t_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, n int NOT NULL)").format(name))
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE {}").format(name))


@pytest.fixture
def counter(pg_url: str, table: sql.Identifier) -> sql.Identifier:
    """``table`` holding one counter row: id 1, n 0."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("INSERT INTO {} VALUES (1, 0)").format(table))
    return table


@pytest.fixture
def r(env: dict[str, str]) -> Iterator[redis.Redis]:
    """A client on REDIS_URL (database 2), answers decoded to str."""
    with redis.Redis.from_url(env["REDIS_URL"], decode_responses=True) as client:
        yield client


@pytest.fixture
def other(env: dict[str, str]) -> Iterator[redis.Redis]:
    """A second, independent client on REDIS_URL: "another process" in the tests."""
    with redis.Redis.from_url(env["REDIS_URL"], decode_responses=True) as client:
        yield client


@pytest.fixture
def key() -> str:
    """A key (or channel) name no other test uses."""
    return f"patterns:{uuid.uuid4().hex}"


@pytest.fixture
def silent_port(env: dict[str, str], patterns: Project) -> int:
    """The port of the running silent service: connections are accepted, nothing is sent."""
    return patterns.stack().service("silent").port


# --------------------------------------------------------------------------- helpers


def row_count(url: str, table: sql.Identifier) -> int:
    """Rows of ``table`` as a fresh connection sees them (committed data only)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
    assert row is not None
    return int(row[0])


def counter_value(url: str, table: sql.Identifier) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql.SQL("SELECT n FROM {} WHERE id = 1").format(table)).fetchone()
    assert row is not None
    return int(row[0])


def as_int(reply: object) -> int:
    """A decoded integer reply such as GET's."""
    assert isinstance(reply, str), reply
    return int(reply)


def subscriber(client: redis.Redis) -> PubSub:
    """A pub/sub connection of ``client`` (``Redis.pubsub`` has no annotations)."""
    pubsub: PubSub = client.pubsub()  # type: ignore[no-untyped-call]
    return pubsub


def messages(pubsub: PubSub, count: int) -> list[dict[str, Any]]:
    """The next ``count`` messages ``pubsub`` receives (subscription confirmations included)."""
    got: list[dict[str, Any]] = []

    def check() -> str | None:
        while len(got) < count and (message := pubsub.get_message(timeout=0.0)) is not None:
            got.append(message)
        return None if len(got) >= count else f"received {len(got)} of {count} messages"

    wait_until(check, WAIT)
    return got


def payloads(pubsub: PubSub, count: int) -> list[tuple[str, str]]:
    """(channel, data) of the next ``count`` messages."""
    return [(m["channel"], m["data"]) for m in messages(pubsub, count)]


def error_within(limit: float, call: Callable[[], object]) -> BaseException | None:
    """Run ``call`` in a thread; fail if it has not returned after ``limit`` s, else its error.

    The thread is a daemon so a client that does hang cannot keep pytest from exiting.
    """
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test to judge
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"the client was still waiting after {limit:g}s: it hangs"
    return outcome[0]


# --------------------------------------------------------------------------- PostgreSQL


def test_committed_transaction_shows_all_its_rows_at_once_and_none_before(
    pg_url: str, table: sql.Identifier
) -> None:
    """Rows inserted in a transaction are invisible to others until COMMIT, then all visible."""
    insert = sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(table)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute(insert, (1, 10))
            conn.execute(insert, (2, 20))
            assert row_count(pg_url, table) == 0
        assert row_count(pg_url, table) == 2


def test_error_inside_a_transaction_rolls_back_every_statement_in_it(
    pg_url: str, table: sql.Identifier
) -> None:
    """A failing statement aborts the transaction: the rows inserted before it are gone too."""
    insert = sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(table)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
            conn.execute(insert, (1, 10))
            conn.execute(insert, (2, 20))
            conn.execute(insert, (1, 30))  # duplicate primary key
        assert row_count(pg_url, table) == 0
        row = conn.execute("SELECT 1").fetchone()
    assert row == (1,), "the connection is usable again after the rollback"


def test_failed_nested_transaction_rolls_back_only_its_savepoint(
    pg_url: str, table: sql.Identifier
) -> None:
    """An error in a nested transaction (savepoint) undoes its statements, not the outer ones."""
    insert = sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(table)
    with psycopg.connect(pg_url, autocommit=True) as conn, conn.transaction():
        conn.execute(insert, (1, 10))
        with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
            conn.execute(insert, (2, 20))
            conn.execute(insert, (1, 30))
        conn.execute(insert, (3, 30))
    with psycopg.connect(pg_url) as conn:
        ids = conn.execute(sql.SQL("SELECT id FROM {} ORDER BY id").format(table)).fetchall()
    assert ids == [(1,), (3,)]


def increment_select_for_update(conn: psycopg.Connection[Any], table: sql.Identifier) -> None:
    """Read-modify-write in Python, made safe by locking the row until COMMIT."""
    with conn.transaction():
        row = conn.execute(
            sql.SQL("SELECT n FROM {} WHERE id = 1 FOR UPDATE").format(table)
        ).fetchone()
        assert row is not None
        conn.execute(sql.SQL("UPDATE {} SET n = %s WHERE id = 1").format(table), (row[0] + 1,))


def increment_in_place(conn: psycopg.Connection[Any], table: sql.Identifier) -> None:
    """One atomic statement: the server reads and writes the row under its own row lock."""
    conn.execute(sql.SQL("UPDATE {} SET n = n + 1 WHERE id = 1").format(table))


@pytest.mark.parametrize(
    "increment",
    [increment_select_for_update, increment_in_place],
    ids=["select-for-update", "update-set-n-plus-1"],
)
def test_concurrent_increments_from_two_connections_lose_no_update(
    pg_url: str,
    counter: sql.Identifier,
    increment: Callable[[psycopg.Connection[Any], sql.Identifier], None],
) -> None:
    """Two threads, each with its own connection, incrementing one row give the exact total."""
    per_thread = 200
    start_together = threading.Barrier(2)

    def worker() -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            start_together.wait(timeout=WAIT)
            for _ in range(per_thread):
                increment(conn, counter)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(worker) for _ in range(2)]:
            future.result()
    assert counter_value(pg_url, counter) == 2 * per_thread


def test_repeatable_read_conflict_raises_serialization_failure_and_a_retry_succeeds(
    pg_url: str, counter: sql.Identifier
) -> None:
    """A row changed after this REPEATABLE READ snapshot cannot be updated; retrying can."""
    failures: list[psycopg.errors.SerializationFailure] = []
    with (
        psycopg.connect(pg_url, autocommit=True) as conn,
        psycopg.connect(pg_url, autocommit=True) as concurrent,
    ):
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ

        def attempt(interfere: bool) -> None:
            with conn.transaction():
                row = conn.execute(sql.SQL("SELECT n FROM {} WHERE id = 1").format(counter))
                seen = row.fetchone()
                assert seen is not None  # the snapshot is fixed from this first query on
                if interfere:  # another transaction commits a change to the same row
                    concurrent.execute(
                        sql.SQL("UPDATE {} SET n = n + 10 WHERE id = 1").format(counter)
                    )
                conn.execute(
                    sql.SQL("UPDATE {} SET n = %s WHERE id = 1").format(counter), (seen[0] + 1,)
                )

        for number in range(3):
            try:
                attempt(interfere=number == 0)
                break
            except psycopg.errors.SerializationFailure as exc:
                failures.append(exc)
    assert len(failures) == 1, "the first attempt conflicts, the retry does not"
    assert "could not serialize access" in str(failures[0])
    assert counter_value(pg_url, counter) == 11, "the retry saw the concurrent +10: no lost update"


# --------------------------------------------------------------------------- Redis: expiry


def test_key_set_with_px_50_expires_and_then_reports_ttl_minus_2(r: redis.Redis, key: str) -> None:
    """SET PX 50: PTTL counts down from at most 50 ms; once expired GET is None and TTL -2."""
    with r.pipeline(transaction=True) as both:  # one MULTI: no pause of ours can fall between
        both.set(key, "v", px=50)
        both.pttl(key)
        done, pttl = both.execute()
    assert done is True
    assert 0 < pttl <= 50
    wait_until(lambda: None if r.exists(key) == 0 else f"still there, pttl {r.pttl(key)}", WAIT)
    assert r.get(key) is None
    assert r.pttl(key) == -2
    assert r.ttl(key) == -2


def test_ttl_is_minus_1_without_expiry_and_persist_removes_an_expiry(
    r: redis.Redis, key: str
) -> None:
    """A key without expiry has TTL -1; EXPIRE sets one; PERSIST takes it away again."""
    r.set(key, "v")
    assert r.ttl(key) == -1
    assert r.expire(key, 100) is True
    assert 0 < r.ttl(key) <= 100
    assert 0 < r.pttl(key) <= 100_000
    assert r.persist(key) is True
    assert r.ttl(key) == -1
    assert r.pttl(key) == -1


def test_plain_set_clears_an_expiry_and_keepttl_keeps_it(r: redis.Redis, key: str) -> None:
    """Overwriting with SET drops the key's TTL unless KEEPTTL is given."""
    r.set(key, "a", ex=100)
    r.set(key, "b", keepttl=True)
    assert 0 < r.ttl(key) <= 100
    r.set(key, "c")
    assert r.ttl(key) == -1
    assert r.get(key) == "c"


# --------------------------------------------------------------------------- Redis: pipelines


def test_transactional_pipeline_returns_each_commands_result_in_order(
    r: redis.Redis, key: str
) -> None:
    """MULTI/EXEC runs the queued commands together and returns their replies in order."""
    with r.pipeline(transaction=True) as pipe:
        pipe.set(key, 1)
        pipe.incr(key)
        pipe.incrby(key, 5)
        pipe.get(key)
        pipe.delete(key)
        pipe.exists(key)
        results = pipe.execute()
    assert results == [True, 2, 7, "7", 1, 0]


def test_watched_key_changed_by_another_client_makes_exec_raise_watch_error(
    r: redis.Redis, other: redis.Redis, key: str
) -> None:
    """WATCH, then another client writes the key: EXEC raises WatchError and applies nothing."""
    r.set(key, 1)
    with r.pipeline() as pipe:
        pipe.watch(key)  # type: ignore[no-untyped-call]
        seen = as_int(pipe.get(key))
        other.set(key, 100)
        pipe.multi()
        pipe.set(key, seen + 1)
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.get(key) == "100"


def test_transaction_helper_retries_after_a_watch_conflict_and_applies_the_update(
    r: redis.Redis, other: redis.Redis, key: str
) -> None:
    """``Redis.transaction`` re-runs the function on WatchError; the retry sees the new value."""
    r.set(key, 1)
    calls: list[int] = []

    def add_one(pipe: redis.client.Pipeline) -> None:
        seen = as_int(pipe.get(key))
        calls.append(seen)
        if len(calls) == 1:
            other.set(key, 100)  # a concurrent write between WATCH and EXEC
        pipe.multi()
        pipe.set(key, seen + 1)

    r.transaction(add_one, key)
    assert calls == [1, 100]
    assert r.get(key) == "101"


# --------------------------------------------------------------------------- Redis: pub/sub


def test_subscriber_receives_published_messages_in_publish_order(
    r: redis.Redis, other: redis.Redis, key: str
) -> None:
    """Every message published on a subscribed channel arrives, in the order it was sent."""
    with subscriber(r) as pubsub:
        pubsub.subscribe(key)
        assert messages(pubsub, 1)[0]["type"] == "subscribe"
        for i in range(20):
            assert other.publish(key, f"m{i}") == 1, "one subscriber received it"
        assert payloads(pubsub, 20) == [(key, f"m{i}") for i in range(20)]


def test_pattern_subscription_receives_messages_of_every_matching_channel(
    r: redis.Redis, other: redis.Redis, key: str
) -> None:
    """PSUBSCRIBE prefix.* gets messages from prefix.a and prefix.b, tagged with the pattern."""
    pattern = f"{key}.*"
    with subscriber(r) as pubsub:
        pubsub.psubscribe(pattern)
        assert messages(pubsub, 1)[0]["type"] == "psubscribe"
        assert other.publish(f"{key}-elsewhere", "no match") == 0
        other.publish(f"{key}.a", "one")
        other.publish(f"{key}.b", "two")
        got = messages(pubsub, 2)
    assert [(m["type"], m["pattern"], m["channel"], m["data"]) for m in got] == [
        ("pmessage", pattern, f"{key}.a", "one"),
        ("pmessage", pattern, f"{key}.b", "two"),
    ]


def test_channel_nobody_subscribes_to_delivers_nothing(
    r: redis.Redis, other: redis.Redis, key: str
) -> None:
    """Publishing on an unsubscribed channel reaches no one; the next delivery is a later one.

    Delivery is in order per connection, so had the first message reached the subscriber it
    would arrive before the marker published after it.
    """
    with subscriber(r) as pubsub:
        pubsub.subscribe(f"{key}.kept", f"{key}.dropped")
        assert [m["type"] for m in messages(pubsub, 2)] == ["subscribe", "subscribe"]
        pubsub.unsubscribe(f"{key}.dropped")  # type: ignore[no-untyped-call]
        assert messages(pubsub, 1)[0]["type"] == "unsubscribe"
        assert other.publish(f"{key}.dropped", "lost") == 0
        assert other.publish(f"{key}.never", "lost") == 0
        assert other.publish(f"{key}.kept", "marker") == 1
        assert payloads(pubsub, 1) == [(f"{key}.kept", "marker")]


# --------------------------------------------------------------------------- Redis: databases


def test_databases_1_and_2_do_not_see_each_others_keys(
    patterns: Project, r: redis.Redis, key: str
) -> None:
    """The same key name in db 1 and db 2 holds two values; FLUSHDB on db 1 leaves db 2 alone."""
    svc = patterns.stack().service("redis")
    with (
        redis.Redis(host=svc.host, port=svc.port, db=1, decode_responses=True) as db1,
        redis.Redis(host=svc.host, port=svc.port, db=2, decode_responses=True) as db2,
    ):
        db1.set(key, "one")
        assert db2.get(key) is None
        db2.set(key, "two")
        assert (db1.get(key), db2.get(key)) == ("one", "two")
        assert r.get(key) == "two", "REDIS_URL ends in /2: its client is on database 2"
        db1.flushdb()
        assert (db1.get(key), db2.get(key)) == (None, "two")


# --------------------------------------------------------------------------- unanswered servers


def test_http_client_raises_read_timeout_on_a_server_that_never_answers(silent_port: int) -> None:
    """httpx with timeout=0.5 connects, waits for a response that never comes, ReadTimeout."""
    url = f"http://127.0.0.1:{silent_port}/health"
    error = error_within(HANG_LIMIT, lambda: httpx.get(url, timeout=CLIENT_TIMEOUT))
    assert isinstance(error, httpx.ReadTimeout), repr(error)


def test_redis_client_raises_timeout_error_on_a_server_that_never_answers(
    silent_port: int,
) -> None:
    """redis-py with socket_timeout=0.5 and no retries raises redis.TimeoutError.

    redis-py's default Retry repeats a timed-out command three times with backoff (about ten
    seconds here), so a caller that wants to give up after its timeout disables retries.
    """
    client = redis.Redis(
        host="127.0.0.1",
        port=silent_port,
        socket_connect_timeout=CLIENT_TIMEOUT,
        socket_timeout=CLIENT_TIMEOUT,
        retry=Retry(NoBackoff(), retries=0),
    )
    try:
        error = error_within(HANG_LIMIT, client.ping)
    finally:
        client.close()
    assert isinstance(error, redis.TimeoutError), repr(error)


def test_psycopg_connect_raises_operational_error_on_a_server_that_never_answers(
    silent_port: int,
) -> None:
    """psycopg with connect_timeout=2 (libpq's minimum) gives up with OperationalError."""

    def connect() -> None:
        psycopg.connect(
            host="127.0.0.1", port=silent_port, user="u", dbname="d", connect_timeout=2
        ).close()

    error = error_within(HANG_LIMIT, connect)
    assert isinstance(error, psycopg.OperationalError), repr(error)
    assert isinstance(error, psycopg.errors.ConnectionTimeout), "a timeout, not a refusal"

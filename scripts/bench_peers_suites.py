"""The inner test suites of ``bench_peers.py``: the same two suites written for each tool.

``test_first.py`` is one test that needs PostgreSQL and Redis; ``test_fresh.py`` is N tests
that each get a database of their own holding the same small migrated schema. Every test's
first line writes the wall-clock time to ``marks/`` (``_bench.mark``), which the runner reads.
"""

from __future__ import annotations

from pathlib import Path

# A small migrated schema: ten tables with a key, an index and 100 rows each.
TABLE = """
CREATE TABLE t{i} (id serial PRIMARY KEY, name text NOT NULL, n int);
CREATE INDEX ON t{i} (name);
INSERT INTO t{i} (name, n) SELECT 'row ' || g, g FROM generate_series(1, 100) g;
"""
SCHEMA = "".join(TABLE.format(i=i) for i in range(10))

BENCH = """
import pathlib, time

MARKS = pathlib.Path({marks!r})
SCHEMA = {schema!r}
SETTINGS = {settings!r}


def mark(name):
    (MARKS / name).write_text(repr(time.time()))
"""

REALSTACK = {
    "e2e/test_first.py": """
from _bench import mark

def test_first(pg_conn, redis_client):
    mark("first")
    pg_conn.execute("SELECT 1")
    redis_client.ping()
""",
    "tests/test_fresh.py": """
import pytest
from _bench import SETTINGS, mark

@pytest.mark.parametrize("n", range(SETTINGS["tests"]))
def test_fresh(fresh_pg_conn, n):
    mark(f"{n:04d}")
    assert fresh_pg_conn.execute("SELECT count(*) FROM t0").fetchone() == (100,)
""",
    "tests/test_shared.py": """
import pytest
from _bench import SETTINGS, mark

@pytest.mark.parametrize("n", range(SETTINGS["tests"]))
def test_shared(pg_conn, n):
    mark(f"{n:04d}")
    pg_conn.execute("SELECT 1")
""",
}

PYTEST_POSTGRESQL = {
    "conftest.py": """
import psycopg
from pytest_postgresql import factories as pg
from pytest_redis import factories as rd
from _bench import SCHEMA, SETTINGS

def load(**params):
    with psycopg.connect(**params) as conn:
        conn.execute(SCHEMA)

postgresql_proc = pg.postgresql_proc(
    executable=SETTINGS["pg_ctl"],
    port=None,
    postgres_options="-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
    load=[load],
)
postgresql = pg.postgresql("postgresql_proc")
redis_proc = rd.redis_proc(executable=SETTINGS["redis_server"], port=None)
redisdb = rd.redisdb("redis_proc")
""",
    "test_first.py": """
from _bench import mark

def test_first(postgresql, redisdb):
    mark("first")
    postgresql.execute("SELECT 1")
    redisdb.ping()
""",
    "test_fresh.py": """
import pytest
from _bench import SETTINGS, mark

@pytest.mark.parametrize("n", range(SETTINGS["tests"]))
def test_fresh(postgresql, n):
    mark(f"{n:04d}")
    assert postgresql.execute("SELECT count(*) FROM t0").fetchone() == (100,)
""",
}

PYTEST_DATABASES = {
    "conftest.py": """
import itertools
import psycopg
import pytest
from _bench import SCHEMA, SETTINGS

pytest_plugins = ["pytest_databases.docker.postgres", "pytest_databases.docker.redis"]
COUNTER = itertools.count()

@pytest.fixture(scope="session")
def postgres_image():
    return SETTINGS["postgres_image"]

@pytest.fixture(scope="session")
def redis_image():
    return SETTINGS["redis_image"]

def _url(service, database):
    return (f"postgresql://{service.user}:{service.password}@{service.host}:{service.port}/"
            f"{database}")

@pytest.fixture(scope="session")
def admin(postgres_service):
    with psycopg.connect(_url(postgres_service, "postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench_tpl")
        with psycopg.connect(_url(postgres_service, "bench_tpl"), autocommit=True) as tpl:
            tpl.execute(SCHEMA)
        conn.execute("ALTER DATABASE bench_tpl IS_TEMPLATE true")
        yield conn

@pytest.fixture
def fresh(postgres_service, admin):
    # pytest-databases has no per-test database: the fixture its users write
    name = f"bench_{next(COUNTER)}"
    admin.execute(f"CREATE DATABASE {name} TEMPLATE bench_tpl")
    with psycopg.connect(_url(postgres_service, name)) as conn:
        yield conn
    admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
""",
    "test_first.py": """
import redis
from _bench import mark

def test_first(postgres_connection, redis_service):
    mark("first")
    postgres_connection.execute("SELECT 1")
    redis.Redis(host=redis_service.host, port=redis_service.port).ping()
""",
    "test_fresh.py": """
import pytest
from _bench import SETTINGS, mark

@pytest.mark.parametrize("n", range(SETTINGS["tests"]))
def test_fresh(fresh, n):
    mark(f"{n:04d}")
    assert fresh.execute("SELECT count(*) FROM t0").fetchone() == (100,)
""",
}

TESTCONTAINERS = {
    "conftest.py": """
import psycopg
import pytest
from testcontainers.community.postgres import PostgresContainer
from testcontainers.community.redis import RedisContainer
from _bench import SCHEMA, SETTINGS

@pytest.fixture(scope="session")
def pg_url():
    with PostgresContainer(SETTINGS["postgres_image"], driver=None) as container:
        yield container.get_connection_url()

@pytest.fixture(scope="session")
def redis_client():
    with RedisContainer(SETTINGS["redis_image"]) as container:
        yield container.get_client()

@pytest.fixture
def fresh():
    # testcontainers' unit of isolation: a container of its own (+ the schema)
    with PostgresContainer(SETTINGS["postgres_image"], driver=None) as container:
        with psycopg.connect(container.get_connection_url(), autocommit=True) as conn:
            conn.execute(SCHEMA)
            yield conn
""",
    "test_first.py": """
import psycopg
from _bench import mark

def test_first(pg_url, redis_client):
    mark("first")
    with psycopg.connect(pg_url) as conn:
        conn.execute("SELECT 1")
    redis_client.ping()
""",
    "test_fresh.py": """
import pytest
from _bench import SETTINGS, mark

@pytest.mark.parametrize("n", range(SETTINGS["container_tests"]))
def test_fresh(fresh, n):
    mark(f"{n:04d}")
    assert fresh.execute("SELECT count(*) FROM t0").fetchone() == (100,)
""",
}

SUITES = {
    "realstack": REALSTACK,
    "pytest-postgresql": PYTEST_POSTGRESQL,
    "pytest-databases": PYTEST_DATABASES,
    "testcontainers": TESTCONTAINERS,
}


def write_suite(tool: str, root: Path, marks: Path, settings: dict[str, object]) -> None:
    """The tool's files under ``root``, with ``_bench.py`` beside each test file."""
    for relpath, text in SUITES[tool].items():
        target = root / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.lstrip())
        bench = BENCH.format(marks=str(marks), schema=SCHEMA, settings=settings)
        (target.parent / "_bench.py").write_text(bench.lstrip())

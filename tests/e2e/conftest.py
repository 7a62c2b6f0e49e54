"""The e2e suite runs against the test stack realstack started; it never starts or mocks one.

Bring the stack up first (`invoke services.start --wait`, or `nox -s e2e`). The realstack
pytest plugin makes this suite strict (it lives under `e2e/`): if any of the four services is
not healthy the session stops before the first test, naming each one with its probe, error
and log tail; a skip fails the run; a test that contacts no service fails.

Under xdist (``-n 2``) every worker runs against the same stack: a test that stops a service
does it through the plugin's ``realstack.outage(name)``, so no other test meets the outage
(the plugin holds the stack alone for the window; see ``realstack.pytest_plugin.outages``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from e2e._stack import ENV, ROOT

# The clients load with the fixtures (and the test modules) that use them: the xdist
# controller imports this conftest too, before it starts any worker, and runs no test.
if TYPE_CHECKING:
    import httpx
    import psycopg
    import redis

    from e2e._support import User, UserFactory

SERVICES = ("postgres", "redis", "auth", "backend")
HOW_TO_START = "run `invoke services.start --wait` (or `nox -s e2e`)"


def pytest_sessionstart(session: pytest.Session) -> None:
    _freeze_what_lives_until_the_end()


def pytest_collection_finish(session: pytest.Session) -> None:
    _freeze_what_lives_until_the_end()


def _freeze_what_lives_until_the_end() -> None:
    """What imports and collection made (psycopg, httpx, websockets, the test modules) lives
    until the process ends, so the garbage collector may stop scanning it: pytest ends every
    process with five full collections (three processes under ``-n 2``), about 0.45 s each
    with this heap on this machine, and about 0 s frozen (scripts/bench_workers.py). The
    suite's own choice: what its tests create is collected as before."""
    gc.freeze()


# --------------------------------------------------------------------------- the contract


@pytest.fixture(scope="session")
def contract(service_urls: dict[str, str]) -> dict[str, str]:
    """The env contract (DATABASE_URL, AUTH_SERVICE_URL, WEBSOCKET_URL, …), from the plugin."""
    return service_urls


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    """The HS256 key auth is given: its manifest ``env``, resolved as realstack resolves it.

    That is envs/test.env overridden by the environment, so a secret supplied through the
    environment (as the services README recommends) is the one the tests sign with too.
    """
    from realstack.manifest import load_stack

    secret = load_stack(ROOT, ENV).service("auth").env.get("AUTH_JWT_SECRET")
    assert secret, f"auth gets no AUTH_JWT_SECRET (neither envs/{ENV}.env nor the environment)"
    return secret


@pytest.fixture(scope="session")
def ws_base(contract: dict[str, str]) -> str:
    """``WEBSOCKET_URL`` from the contract."""
    return contract["WEBSOCKET_URL"]


# --------------------------------------------------------------------------- clients


@pytest.fixture(scope="session")
def auth_api(contract: dict[str, str]) -> Iterator[httpx.Client]:
    """A real HTTP client aimed at the auth service (real sockets, no in-process transport)."""
    from e2e._support import http_client

    with http_client(contract["AUTH_SERVICE_URL"]) as client:
        yield client


@pytest.fixture(scope="session")
def backend_api(contract: dict[str, str]) -> Iterator[httpx.Client]:
    """A real HTTP client aimed at the backend service."""
    from e2e._support import http_client

    with http_client(contract["BACKEND_SERVICE_URL"]) as client:
        yield client


@pytest.fixture
def user(auth_api: httpx.Client) -> UserFactory:
    """Factory: a fresh user (uuid e-mail) registered and logged in through auth's HTTP API."""
    from e2e._support import register_and_login

    def make() -> User:
        return register_and_login(auth_api)

    return make


@pytest.fixture(scope="session")
def db(contract: dict[str, str]) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A direct PostgreSQL connection (autocommit) for checking what the services stored."""
    import psycopg

    with psycopg.connect(
        contract["DATABASE_URL"],
        autocommit=True,
        connect_timeout=10,
        options="-c statement_timeout=10000",
    ) as conn:
        yield conn


@pytest.fixture(scope="session")
def services_redis(contract: dict[str, str]) -> Iterator[redis.Redis]:
    """A direct connection to the services' own Redis db, for checking what auth stored.

    (The plugin's ``redis_client`` is a per-worker namespace for a test's own data.)
    """
    import redis

    client = redis.Redis.from_url(
        contract["REDIS_URL"], socket_timeout=10, socket_connect_timeout=10, decode_responses=True
    )
    try:
        yield client
    finally:
        client.close()

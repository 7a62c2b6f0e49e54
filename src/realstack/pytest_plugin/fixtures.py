"""Fixtures over the running stack: URLs, a handle, and real clients cleaned up per test.

Generic only (no fixture names a service of one particular app); the database and HTTP
clients are imported when a fixture first needs them, never at plugin import. The per-test
databases (``fresh_database``, ``fresh_pg_conn``) live in :mod:`.fresh` and register here.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from realstack.pytest_plugin._requests import require, session_services, state_of
from realstack.pytest_plugin.fresh import (  # noqa: F401 - the plugin's fixtures, registered here
    fresh_database,
    fresh_pg_conn,
    fresh_pool_fixture,
    template_fixture,
)
from realstack.pytest_plugin.namespaces import (
    DATABASE_KEY,
    REDIS_KEY,
    Namespace,
    namespace_for,
    reset_redis,
    snapshot_redis,
)

if TYPE_CHECKING:
    import httpx
    import psycopg
    import redis

    from realstack.model import Stack
    from realstack.pytest_plugin.stackshare import StackShare
    from realstack.pytest_plugin.templates import TemplateLease
    from realstack.status import ServiceStatus

TIMEOUT = 10.0


@dataclass(frozen=True)
class RealstackHandle:
    """The stack the session runs against; ``share``: the hold its strict tests have on it."""

    stack: Stack
    urls: dict[str, str]
    share: StackShare | None = None

    def status(self) -> list[ServiceStatus]:
        from realstack.status import status  # noqa: PLC0415 - the plugin loads lazily

        return status(self.stack)

    def restart(self, name: str, timeout: float | None = None) -> None:
        """Stop and start one service, waiting until it and what depends on it answer again;
        no other test (xdist worker, run of this checkout) uses the stack meanwhile."""
        from realstack.pytest_plugin.outages import restart  # noqa: PLC0415

        restart(self.stack, self.share, name, timeout)

    def outage(self, name: str, timeout: float | None = None) -> AbstractContextManager[None]:
        """``with realstack.outage("auth"):`` auth is stopped for the block, and started again
        after it; the window ends when auth and what depends on it answer again. No other test
        uses the stack during the window; before and after it, the test shares the stack."""
        from realstack.pytest_plugin.outages import outage  # noqa: PLC0415

        return outage(self.stack, self.share, name, timeout)

    def logs(self, name: str, lines: int = 50) -> list[str]:
        from realstack import runtime  # noqa: PLC0415

        return runtime.logs(self.stack, self.stack.service(name)).tail(lines)


@pytest.fixture(scope="session")
def realstack(request: pytest.FixtureRequest) -> RealstackHandle:
    """Handle on the stack: ``urls``, ``status()``, ``restart(name)``, ``outage(name)``,
    ``logs(name)``."""
    state = state_of(request)
    stack = state.load_stack()
    return RealstackHandle(stack, state.contract(), state.share)


@pytest.fixture(scope="session")
def service_urls(realstack: RealstackHandle) -> dict[str, str]:
    """The env contract (DATABASE_URL, REDIS_URL, *_SERVICE_URL …) the services use."""
    return ServiceUrls(realstack.urls)


class ServiceUrls(dict[str, str]):
    """A plain dict whose missing key says what the stack does export (a bare ``KeyError:
    'API_URL'`` left a user to guess between a typo and a service that is not running)."""

    def __missing__(self, key: str) -> str:
        raise KeyError(
            f"{key!r} is not in the env contract; it has {', '.join(sorted(self)) or 'nothing'} "
            "(a service of a profile that is not enabled has no address in it)"
        )


@pytest.fixture(scope="session")
def realstack_namespace(
    request: pytest.FixtureRequest, _realstack_template: TemplateLease | None
) -> Namespace:
    """This worker's own database (a clone of the template) and Redis db, fresh each
    session, seed data loaded."""
    import psycopg  # noqa: PLC0415 - loaded by the runs that use these fixtures only
    import redis  # noqa: PLC0415

    state = state_of(request)
    namespace = namespace_for(state.load_stack(), session_services(state), _realstack_template)
    with contextlib.ExitStack() as cleanup:
        pg = None
        client = None
        if namespace.redis_url is not None:
            client = redis.Redis.from_url(namespace.redis_url)
            cleanup.callback(client.close)
            client.flushdb()
        if namespace.database_url is not None:
            # entered last, so it exits first: the seed transaction commits on a clean exit
            pg = cleanup.enter_context(psycopg.connect(namespace.database_url))
        request.config.hook.pytest_realstack_load_fixtures(namespace=namespace, pg=pg, redis=client)
        if client is not None:
            namespace = dataclasses.replace(namespace, redis_seed=snapshot_redis(client))
    return namespace


@pytest.fixture
def pg_conn(
    request: pytest.FixtureRequest, realstack_namespace: Namespace
) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A connection to this worker's database; everything the test did is rolled back."""
    import psycopg  # noqa: PLC0415

    url = require(request, realstack_namespace.database_url, DATABASE_KEY)
    conn = psycopg.connect(url, connect_timeout=5)
    try:
        yield conn
    finally:
        # a connection the test closed, or whose server it took away (an outage), has
        # nothing left to roll back
        with contextlib.suppress(psycopg.OperationalError):
            conn.rollback()
        conn.close()


@pytest.fixture
def redis_client(
    request: pytest.FixtureRequest, realstack_namespace: Namespace
) -> Iterator[redis.Redis]:
    """A client on this worker's Redis db (str responses); afterwards only the seed is left."""
    import redis  # noqa: PLC0415

    url = require(request, realstack_namespace.redis_url, REDIS_KEY)
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=TIMEOUT)
    if realstack_namespace.redis_seed and not client.dbsize():
        reset_redis(url, realstack_namespace.redis_seed)  # a restart emptied it (any worker's)
    try:
        yield client
    finally:
        client.close()
        reset_redis(url, realstack_namespace.redis_seed)


def _http_url(handle: RealstackHandle, service: str) -> str:
    """``<SERVICE>_SERVICE_URL`` from the contract; else, for an app process of a local stack
    that exports none (``realstack init`` wrote ``APP_URL`` before), its own address."""
    key = f"{service.upper()}_SERVICE_URL"
    if key in handle.urls:
        return handle.urls[key]
    stack = handle.stack
    if not stack.deployed and service in stack.names:
        svc = stack.service(service)
        if svc.kind == "process":
            return svc.url
    known = sorted(k for k in handle.urls if k.endswith("_SERVICE_URL"))
    pytest.fail(
        f"http_client({service!r}): no {key} in the env contract and no app process of that "
        f"name (known: {', '.join(known) or 'none'}; processes: "
        f"{', '.join(s.name for s in stack.services if s.kind == 'process') or 'none'})",
        pytrace=False,
    )


@pytest.fixture
def http_client(realstack: RealstackHandle) -> Iterator[Callable[[str], httpx.Client]]:
    """Factory: ``http_client("backend")`` → an httpx client on BACKEND_SERVICE_URL (or, when
    the service exports none, on the app process ``backend``'s own address).

    It connects as ``staging.check`` does: to the service itself (no proxy from the
    environment), trusting the system's CAs or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` (httpx
    alone: certifi's bundle). A deployed stack the check passed is the one the tests reach."""
    import httpx  # noqa: PLC0415

    from realstack.staging.net import trust  # noqa: PLC0415

    clients: list[httpx.Client] = []
    roots = trust()

    def make(service: str) -> httpx.Client:
        url = _http_url(realstack, service)
        client = httpx.Client(base_url=url, timeout=TIMEOUT, verify=roots, trust_env=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()

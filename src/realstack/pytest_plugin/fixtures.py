"""Fixtures over the running stack: URLs, a handle, and real clients cleaned up per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest
import redis

from realstack import orchestrator
from realstack.model import Stack
from realstack.pytest_plugin.namespaces import Namespace, namespace_for
from realstack.state import InstancePaths, tail
from realstack.status import ServiceStatus, status

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

TIMEOUT = 10.0


@dataclass(frozen=True)
class RealstackHandle:
    """The stack the session runs against."""

    stack: Stack
    urls: dict[str, str]

    def status(self) -> list[ServiceStatus]:
        return status(self.stack)

    def restart(self, name: str, timeout: float | None = None) -> None:
        """Stop and start one service, waiting until it is healthy again."""
        orchestrator.stop(self.stack, only=[name]).raise_for_errors()
        orchestrator.start(self.stack, only=[name], timeout=timeout).raise_for_errors()

    def logs(self, name: str, lines: int = 50) -> list[str]:
        return tail(InstancePaths(self.stack.state_dir).log(name), lines)


def _state(request: pytest.FixtureRequest) -> Any:
    from realstack.pytest_plugin import STATE_KEY  # noqa: PLC0415 (circular at import time)

    return request.config.stash[STATE_KEY]


@pytest.fixture(scope="session")
def realstack(request: pytest.FixtureRequest) -> RealstackHandle:
    """Handle on the stack: ``urls``, ``status()``, ``restart(name)``, ``logs(name)``."""
    state = _state(request)
    stack = state.load_stack()
    return RealstackHandle(stack, state.contract())


@pytest.fixture(scope="session")
def service_urls(realstack: RealstackHandle) -> dict[str, str]:
    """The env contract (DATABASE_URL, REDIS_URL, *_SERVICE_URL …) the services use."""
    return dict(realstack.urls)


@pytest.fixture(scope="session")
def realstack_namespace(request: pytest.FixtureRequest, service_urls: dict[str, str]) -> Namespace:
    """This worker's own database and Redis db, fresh each session, seed data loaded."""
    namespace = namespace_for(service_urls)
    client = redis.Redis.from_url(namespace.redis_url)
    try:
        client.flushdb()
        with psycopg.connect(namespace.database_url) as conn:
            request.config.hook.pytest_realstack_load_fixtures(
                namespace=namespace, pg=conn, redis=client
            )
    finally:
        client.close()
    return namespace


@pytest.fixture
def pg_conn(realstack_namespace: Namespace) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A connection to this worker's database; everything the test did is rolled back."""
    conn = psycopg.connect(realstack_namespace.database_url, connect_timeout=5)
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


@pytest.fixture
def redis_client(realstack_namespace: Namespace) -> Iterator[redis.Redis]:
    """A client on this worker's Redis db (str responses); the db is flushed afterwards."""
    client = redis.Redis.from_url(
        realstack_namespace.redis_url, decode_responses=True, socket_timeout=TIMEOUT
    )
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


def _http_url(urls: dict[str, str], service: str) -> str:
    key = f"{service.upper()}_SERVICE_URL"
    if key not in urls:
        known = sorted(k for k in urls if k.endswith("_SERVICE_URL"))
        raise pytest.UsageError(f"no {key} in the env contract (known: {', '.join(known)})")
    return urls[key]


@pytest.fixture
def http_client(service_urls: dict[str, str]) -> Iterator[Callable[[str], httpx.Client]]:
    """Factory: ``http_client("backend")`` → an httpx client on BACKEND_SERVICE_URL."""
    clients: list[httpx.Client] = []

    def make(service: str) -> httpx.Client:
        client = httpx.Client(base_url=_http_url(service_urls, service), timeout=TIMEOUT)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def backend_client(http_client: Callable[[str], httpx.Client]) -> httpx.Client:
    """httpx client on BACKEND_SERVICE_URL."""
    return http_client("backend")


@pytest.fixture
def auth_client(http_client: Callable[[str], httpx.Client]) -> httpx.Client:
    """httpx client on AUTH_SERVICE_URL."""
    return http_client("auth")


@pytest.fixture
def ws_connect(service_urls: dict[str, str]) -> Iterator[Callable[..., ClientConnection]]:
    """Factory: ``ws_connect(token=...)`` → a WebSocket on WEBSOCKET_URL, Bearer-authenticated."""
    from websockets.sync.client import connect  # noqa: PLC0415 (optional dependency)

    sockets: list[ClientConnection] = []

    def make(token: str | None = None, url: str | None = None) -> ClientConnection:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        ws = connect(
            url or service_urls["WEBSOCKET_URL"], additional_headers=headers, open_timeout=TIMEOUT
        )
        sockets.append(ws)
        return ws

    yield make
    for ws in sockets:
        ws.close()

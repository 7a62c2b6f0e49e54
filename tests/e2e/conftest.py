"""The e2e suite runs against the test stack realstack started; it never starts or mocks one.

Bring the stack up first (`invoke services.start --wait`, or `nox -s e2e`). If any of the four
services is not up and healthy, the session fails at once with one line per service: a suite
that cannot reach the real stack must never be green, and never skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest
import redis
from dotenv import dotenv_values

import realstack
from e2e._support import ENV, HTTP_TIMEOUT, ROOT, User, UserFactory, register_and_login
from realstack import probes

SERVICES = ("postgres", "redis", "auth", "backend")
HOW_TO_START = "run `invoke services.start --wait` (or `nox -s e2e`)"


# --------------------------------------------------------------------------- stack check


def stack_problem() -> str | None:
    """None when all four services answer healthy; else a message naming each service."""
    try:
        stack = realstack.load_stack(ROOT, ENV)
        rows = {row.name: row for row in realstack.status(env=ENV, root=ROOT)}
    except realstack.RealstackError as exc:
        return f"cannot read the {ENV} stack ({exc}); {HOW_TO_START}"
    lines, bad = [], False
    for name in SERVICES:
        row = rows.get(name)
        if row is None:
            lines.append(f"  {name:<9} not in the manifest")
            bad = True
            continue
        health = row.health
        if row.state == "foreign":  # answering but not started by realstack: probe it ourselves
            health = probes.check_for(stack.service(name))() or "healthy"
        ok = row.state in ("ours", "foreign") and health == "healthy"
        bad = bad or not ok
        lines.append(
            f"  {'ok ' if ok else 'BAD'} {name:<9} state={row.state:<8} port={row.port:<5} "
            f"health={health}"
        )
    if not bad:
        return None
    return (
        f"the e2e suite needs the real {ENV} stack, and it is not up and healthy:\n"
        + "\n".join(lines)
        + f"\n{HOW_TO_START}."
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Selected e2e tests and the stack is down: fail the whole session before any test."""
    if session.config.option.collectonly:
        return  # listing tests needs no stack
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the session fixture below reports it instead
    if not any(item.get_closest_marker("e2e") for item in session.items):
        return
    problem = stack_problem()
    if problem is not None:
        pytest.exit(problem, returncode=1)


@pytest.fixture(scope="session", autouse=True)
def _real_stack_is_up() -> None:
    """Every e2e test fails (never skips) when the stack is not up, also under xdist."""
    problem = stack_problem()
    if problem is not None:
        pytest.fail(problem, pytrace=False)


# --------------------------------------------------------------------------- the contract


@pytest.fixture(scope="session")
def contract() -> dict[str, str]:
    """The env contract (DATABASE_URL, AUTH_SERVICE_URL, WEBSOCKET_URL, …) of the test stack."""
    return realstack.contract(realstack.load_stack(ROOT, ENV))


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    """The throwaway HS256 key of the test stack, from envs/test.env."""
    secret = dotenv_values(ROOT / "envs" / f"{ENV}.env").get("AUTH_JWT_SECRET")
    assert secret, f"AUTH_JWT_SECRET is missing from envs/{ENV}.env"
    return secret


@pytest.fixture(scope="session")
def ws_base(contract: dict[str, str]) -> str:
    """``WEBSOCKET_URL`` from the contract."""
    return contract["WEBSOCKET_URL"]


# --------------------------------------------------------------------------- clients


@pytest.fixture(scope="session")
def auth_api(contract: dict[str, str]) -> Iterator[httpx.Client]:
    """A real HTTP client aimed at the auth service (real sockets, no in-process transport)."""
    with httpx.Client(
        base_url=contract["AUTH_SERVICE_URL"], timeout=HTTP_TIMEOUT, trust_env=False
    ) as client:
        yield client


@pytest.fixture(scope="session")
def backend_api(contract: dict[str, str]) -> Iterator[httpx.Client]:
    """A real HTTP client aimed at the backend service."""
    with httpx.Client(
        base_url=contract["BACKEND_SERVICE_URL"], timeout=HTTP_TIMEOUT, trust_env=False
    ) as client:
        yield client


@pytest.fixture
def user(auth_api: httpx.Client) -> UserFactory:
    """Factory: a fresh user (uuid e-mail) registered and logged in through auth's HTTP API."""

    def make() -> User:
        return register_and_login(auth_api)

    return make


@pytest.fixture(scope="session")
def db(contract: dict[str, str]) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A direct PostgreSQL connection (autocommit) for checking what the services stored."""
    with psycopg.connect(
        contract["DATABASE_URL"],
        autocommit=True,
        connect_timeout=10,
        options="-c statement_timeout=10000",
    ) as conn:
        yield conn


@pytest.fixture(scope="session")
def redis_client(contract: dict[str, str]) -> Iterator[redis.Redis]:
    """A direct Redis connection for checking what auth stored."""
    client = redis.Redis.from_url(
        contract["REDIS_URL"], socket_timeout=10, socket_connect_timeout=10, decode_responses=True
    )
    try:
        yield client
    finally:
        client.close()

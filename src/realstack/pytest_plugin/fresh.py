"""A database of its own for one test: ``fresh_database`` (its URL) and ``fresh_pg_conn``.

Both are clones of the session's template (the contract's migrated database, see
:mod:`~realstack.pytest_plugin.templates`), made ahead by a background thread and dropped
after the test. With ``--realstack-keep-failed-db`` a failed test's database stays, and its
URL (password masked) is in the test's report; it is dropped when a later session starts,
unless someone is connected to it then.

Imported at plugin configuration: the database code loads only when a fixture runs.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from realstack.errors import RealstackError
from realstack.pytest_plugin._requests import require, session_services, state_of
from realstack.pytest_plugin.namespaces import (
    DATABASE_KEY,
    contract_database,
    exported_by,
    worker_id,
)

if TYPE_CHECKING:
    import psycopg

    from realstack.model import Stack
    from realstack.pytest_plugin.freshdb import FreshPool
    from realstack.pytest_plugin.templates import TemplateLease

KEEP_OPTION = "realstack_keep_failed_db"  # --realstack-keep-failed-db (declared in __init__)
KEEP_PLUGIN = "realstack-keep-failed-db"
_URL = pytest.StashKey[str]()  # item → the URL of its fresh database
_KEPT = pytest.StashKey[bool]()


def _client_tools(stack: Stack) -> Path:
    """pg_dump/pg_restore's directory: beside the server binaries realstack finds."""
    from realstack.binaries import find_postgres  # noqa: PLC0415

    service = stack.service(exported_by(stack, DATABASE_KEY) or "")
    return find_postgres(service.bin_dir).path.parent


@pytest.fixture(scope="session", name="_realstack_template")
def template_fixture(request: pytest.FixtureRequest) -> Iterator[TemplateLease | None]:
    """This session's hold on the template (None: the session does not use PostgreSQL)."""
    state = state_of(request)
    stack = state.load_stack()
    source = contract_database(stack, session_services(state))
    if source is None:
        yield None
        return
    import psycopg  # noqa: PLC0415 - only runs that use PostgreSQL pay for it

    from realstack.pytest_plugin import freshdb, templates  # noqa: PLC0415

    try:
        lease = templates.lease(stack, source, lambda: _client_tools(stack))
    except (RealstackError, psycopg.Error) as exc:
        message = state.mask(f"realstack: no template database to clone: {exc}")
        raise pytest.fail.Exception(message, pytrace=False) from None
    try:
        freshdb.remove_leftovers(lease.url(lease.admin.info.dbname), lease.names)
        yield lease
    finally:
        lease.close()


class KeepFailed:
    """Marks a failed test's fresh database as kept, and puts its URL in the report.

    Registered only in sessions that ask for it and use fresh databases. Setup and call
    reports are made before the fixture's teardown, which then leaves the database alone.
    """

    def __init__(self, mask: Callable[[str], str]) -> None:
        self.mask = mask

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        url = item.stash.get(_URL, None)
        if url is not None and report.failed and not item.stash.get(_KEPT, False):
            from realstack.pytest_plugin._pgsql import masked  # noqa: PLC0415

            item.stash[_KEPT] = True
            text = f"{self.mask(masked(url))}\n(dropped when a later session starts)"
            report.sections.append(("realstack: kept fresh_database", text))
        return report


@pytest.fixture(scope="session", name="_realstack_fresh_pool")
def fresh_pool_fixture(
    request: pytest.FixtureRequest, _realstack_template: TemplateLease | None
) -> Iterator[FreshPool | None]:
    if _realstack_template is None:
        yield None
        return
    from realstack.pytest_plugin.freshdb import FreshPool  # noqa: PLC0415

    manager = request.config.pluginmanager
    if request.config.getoption(KEEP_OPTION) and not manager.has_plugin(KEEP_PLUGIN):
        manager.register(KeepFailed(state_of(request).mask), KEEP_PLUGIN)
    pool = FreshPool(_realstack_template, worker_id())
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def fresh_database(
    request: pytest.FixtureRequest, _realstack_fresh_pool: FreshPool | None
) -> Iterator[str]:
    """The URL of a database for this test alone: a clone of the template (the contract's
    migrated database, without the per-worker seed data), dropped after the test."""
    pool = _realstack_fresh_pool
    require(request, None if pool is None else pool.lease.source_url, DATABASE_KEY)
    assert pool is not None  # require() failed the test otherwise
    try:
        name = pool.take()
    except RealstackError as exc:
        message = state_of(request).mask(f"realstack: {exc}")
        raise pytest.fail.Exception(message, pytrace=False) from None
    url = pool.url(name)
    request.node.stash[_URL] = url
    try:
        yield url
    finally:
        if not request.node.stash.get(_KEPT, False):
            pool.give_back(name)


@pytest.fixture
def fresh_pg_conn(
    fresh_database: str, _realstack_fresh_pool: FreshPool | None
) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """An autocommit connection to ``fresh_database``: what the test writes is visible at once
    to anything else it points at that database (its app, a second connection). Usually made
    ahead, with the clone."""
    import psycopg  # noqa: PLC0415

    from realstack.pytest_plugin._pgsql import database_of  # noqa: PLC0415

    assert _realstack_fresh_pool is not None  # fresh_database failed the test otherwise
    conn = _realstack_fresh_pool.connection(database_of(fresh_database)) or psycopg.connect(
        fresh_database, autocommit=True, connect_timeout=5
    )
    try:
        yield conn
    finally:
        conn.close()

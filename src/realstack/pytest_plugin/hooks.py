"""Hooks a project implements in its conftest.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import psycopg
    import redis

    from realstack.pytest_plugin.namespaces import Namespace


@pytest.hookspec(firstresult=False)
def pytest_realstack_load_fixtures(
    namespace: Namespace,
    pg: psycopg.Connection[tuple[object, ...]] | None,
    redis: redis.Redis | None,
) -> None:
    """Load seed data (the seeds' ``load_test_fixtures``) into a fresh worker namespace.

    Called once per session and worker, after the namespace's database was created and its
    Redis db flushed; ``pg`` is in a transaction committed after all implementations ran.
    ``pg`` / ``redis`` is ``None`` when the session does not use that service (its strict tests
    ``requires(...)`` only the others), so a run that needs only Redis works with PostgreSQL down.
    """

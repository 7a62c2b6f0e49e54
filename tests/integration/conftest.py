"""Integration fixtures: throwaway projects whose PostgreSQL and Redis follow REALSTACK_PROVIDER.

Natively by default; with ``REALSTACK_PROVIDER=docker`` (``nox -s docker``) in containers of
the repository's docker-compose.test.yml, one compose project per throwaway project. Modules
that test native details pin ``provider = "native"`` in their manifest
(:data:`integration._support.NATIVE_MANIFEST`).

Starting PostgreSQL from a project's cached template takes ~0.1 s, but building that template
costs ~1 s per project; a module-scoped project pays it once. Every test still states its own
precondition (start, or stop first), so the tests stay independent in meaning.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import Project, provider_under_test, throwaway_project


@pytest.fixture(scope="module")
def module_project() -> Iterator[Project]:
    """A throwaway project shared by a module's tests; stopped (purge) and checked at the end."""
    with throwaway_project("realstack-itest-", provider_under_test()) as proj:
        yield proj


@pytest.fixture
def project() -> Iterator[Project]:
    """A throwaway project for one test, with the provider under test."""
    with throwaway_project("realstack-test-", provider_under_test()) as proj:
        yield proj

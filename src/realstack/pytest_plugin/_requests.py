"""What a fixture asks of the run: its session, the services the session uses, and whether a
test may use a service it did not declare. Shared by the fixture modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from realstack.pytest_plugin.namespaces import exported_by

if TYPE_CHECKING:
    from realstack.pytest_plugin._session import Session


def state_of(request: pytest.FixtureRequest) -> Session:
    from realstack.pytest_plugin._session import session_of  # noqa: PLC0415

    return session_of(request.config)


def session_services(state: Session) -> list[str]:
    """What this session's tests use: the strict tests' services, else the whole stack."""
    return state.needed() or list(state.load_stack().names)


def require(request: pytest.FixtureRequest, url: str | None, key: str) -> str:
    """``url``, or a failure naming the service the test uses without declaring it."""
    state = state_of(request)
    provider = exported_by(state.load_stack(), key)
    if provider is None:
        pytest.fail(f"{request.fixturename}: the stack exports no {key}", pytrace=False)
    declared = state.requires.get(request.node.nodeid)
    if url is None or (declared is not None and provider not in declared):
        # the session checked only the declared services: using another one would make a
        # down service look like a test failure
        pytest.fail(
            f"{request.fixturename} uses {provider!r}, which this test does not require: "
            f"add it to @pytest.mark.requires(...)",
            pytrace=False,
        )
    return url

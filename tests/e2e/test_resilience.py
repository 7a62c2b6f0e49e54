"""Auth goes away and comes back (`invoke services.restart auth`): the backend says so, then heals.

These tests stop and start the test stack's auth service with the plugin's
``realstack.outage("auth")``: for that window no other e2e test (another xdist worker, another
run of this checkout) uses the stack, and the window ends only when auth, and the backend that
depends on it, pass their probes again. What a test does before and after its outage runs
beside the other tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from e2e._support import (
    RUN_FRAMES,
    TRY_AGAIN_LATER,
    UserFactory,
    Ws,
    create_thread,
    eventually,
    open_ws,
    refusal_of,
    word_stats,
)
from realstack.pytest_plugin.fixtures import RealstackHandle

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.p3,
    pytest.mark.realstack_local("stops and restarts the stack's auth service"),
]

NOTICE_TIMEOUT = 15.0  # for the backend to notice that auth is gone
RECOVERY_TIMEOUT = 60.0  # for the WebSocket to get through again


def backend_health_is(backend_api: httpx.Client, status: int) -> Callable[[], str | None]:
    def check() -> str | None:
        try:
            response = backend_api.get("/health")
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if response.status_code == status:
            return None
        return f"HTTP {response.status_code}: {response.text[:300]}"

    return check


def test_backend_health_is_503_while_auth_is_down_and_200_once_it_is_back(
    backend_api: httpx.Client, realstack: RealstackHandle, user: UserFactory
) -> None:
    """Backend /health and /api answer 503 while auth is down; both recover after restart."""
    alice = user()
    with realstack.outage("auth"):
        eventually(backend_health_is(backend_api, 503), NOTICE_TIMEOUT, "backend /health 503")
        body = backend_api.get("/health").json()
        assert body["status"] == "degraded", body
        assert body["checks"]["postgres"] == "ok", body
        assert body["checks"]["redis"] == "ok", body
        assert body["checks"]["auth"] != "ok", body
        assert body["checks"]["auth"], "the auth check must carry the error text"
        api = backend_api.post("/api/threads", json={"title": "x"}, headers=alice.auth)
        assert api.status_code == 503, f"/api while auth is down: {api.status_code} {api.text}"

    # the outage ends once the backend passes its probe (GET /health, 200) again
    health = backend_api.get("/health")
    assert health.status_code == 200, health.text
    assert health.json()["checks"]["auth"] == "ok"
    again = backend_api.post("/api/threads", json={"title": "x"}, headers=alice.auth)
    assert again.status_code == 201, f"a token from before the restart: {again.status_code}"


def test_websocket_is_closed_with_1013_while_auth_is_down_and_reconnects_after(
    backend_api: httpx.Client, ws_base: str, realstack: RealstackHandle, user: UserFactory
) -> None:
    """A client turned away with 1013 (try again later) gets through by reconnecting, then runs."""
    alice = user()
    thread = create_thread(backend_api, alice)
    with realstack.outage("auth"):
        turned_away = refusal_of(ws_base, alice.token)
        assert turned_away == ("closed", TRY_AGAIN_LATER) or (
            turned_away[0] == "refused" and str(turned_away[1]).startswith("HTTP 5")
        ), f"while auth is down: {turned_away}"

    with contextlib.ExitStack() as held:
        connected: list[Ws] = []

        def reconnect() -> str | None:
            with contextlib.ExitStack() as attempt:  # closes this attempt unless it is kept
                try:
                    ws = attempt.enter_context(open_ws(ws_base, alice.token))
                    ws.ready()
                except ConnectionClosed as exc:
                    return f"closed with {exc.rcvd.code if exc.rcvd else None}"
                except (InvalidHandshake, OSError) as exc:
                    return f"{type(exc).__name__}: {exc}"
                held.push(attempt.pop_all())
                connected.append(ws)
                return None

        eventually(reconnect, RECOVERY_TIMEOUT, "WebSocket reconnect after auth restart")
        content = "back again after the outage"
        frames = connected[0].run_agent(thread["id"], content)

    assert [f["type"] for f in frames] == list(RUN_FRAMES)
    assert frames[-1]["result"] == word_stats(content)

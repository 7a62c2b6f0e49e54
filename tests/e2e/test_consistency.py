"""What one side learns, the other sees at once; what one user owns, no other user sees."""

from __future__ import annotations

import uuid

import httpx
import pytest

from e2e._support import (
    RUN_FRAMES,
    UserFactory,
    Ws,
    create_thread,
    open_ws,
    word_stats,
)

pytestmark = [pytest.mark.e2e]


@pytest.mark.p1
def test_logout_is_seen_by_the_backend_on_the_very_next_request(
    auth_api: httpx.Client, backend_api: httpx.Client, user: UserFactory
) -> None:
    """The backend asks auth on every request: no grace period after logout."""
    alice = user()
    thread = create_thread(backend_api, alice)
    before = backend_api.get(f"/api/threads/{thread['id']}/messages", headers=alice.auth)
    assert before.status_code == 200, before.text
    assert auth_api.post("/auth/logout", headers=alice.auth).status_code == 204
    after = backend_api.get(f"/api/threads/{thread['id']}/messages", headers=alice.auth)
    assert after.status_code == 401, f"first request after logout: {after.status_code}"


@pytest.mark.p1
def test_a_user_cannot_read_or_write_another_users_thread(
    backend_api: httpx.Client, user: UserFactory
) -> None:
    """Another user's thread is 404 like an unknown one (its existence is not revealed)."""
    alice, mallory = user(), user()
    thread = create_thread(backend_api, alice, "alice only")
    read = backend_api.get(f"/api/threads/{thread['id']}/messages", headers=mallory.auth)
    assert read.status_code == 404, read.text
    write = backend_api.post(
        f"/api/threads/{thread['id']}/messages", json={"content": "hi"}, headers=mallory.auth
    )
    assert write.status_code == 404, write.text
    unknown = backend_api.get("/api/threads/999999999/messages", headers=mallory.auth)
    assert unknown.status_code == 404, unknown.text
    mine = backend_api.get(f"/api/threads/{thread['id']}/messages", headers=alice.auth)
    assert mine.status_code == 200
    assert mine.json() == [], "mallory's write must not have landed"


@pytest.mark.p1
def test_a_user_cannot_read_another_users_run(
    backend_api: httpx.Client, ws_base: str, user: UserFactory
) -> None:
    """GET /api/runs/{id} of someone else's run is 404, like an unknown run id."""
    alice, mallory = user(), user()
    thread = create_thread(backend_api, alice)
    with open_ws(ws_base, alice.token) as ws:
        run_id = ws.run_agent(thread["id"], "private words")[0]["run_id"]
    assert backend_api.get(f"/api/runs/{run_id}", headers=alice.auth).status_code == 200
    theirs = backend_api.get(f"/api/runs/{run_id}", headers=mallory.auth)
    assert theirs.status_code == 404, theirs.text
    unknown = backend_api.get(f"/api/runs/{uuid.uuid4()}", headers=mallory.auth)
    assert unknown.status_code == 404, unknown.text


@pytest.mark.p1
def test_events_reach_every_connection_of_the_user_and_no_other_user(
    backend_api: httpx.Client, ws_base: str, user: UserFactory
) -> None:
    """Alice's second connection gets all five events of her run; Bob's open socket gets none."""
    alice, bob = user(), user()
    alice_thread, bob_thread = create_thread(backend_api, alice), create_thread(backend_api, bob)
    content = "fan out to alice twice, never to bob"
    with (
        open_ws(ws_base, alice.token) as sender,
        open_ws(ws_base, alice.token) as watcher,
        open_ws(ws_base, bob.token) as bystander,
    ):
        watcher.ready()
        bystander.ready()
        sent = sender.run_agent(alice_thread["id"], content)
        seen = watcher.frames_until_completed()
        assert [f["type"] for f in sent] == list(RUN_FRAMES)
        assert seen == sent, "both of alice's connections must see the same five frames"
        assert sent[-1]["result"] == word_stats(content)

        # bob's own run is the barrier: anything of alice's in flight to bob would come first
        # (and carry her run id)
        bobs = bystander.run_agent(bob_thread["id"], "bob's own words")
        assert [f["type"] for f in bobs] == list(RUN_FRAMES), f"bob's stream: {bobs!r}"
        assert {f["run_id"] for f in bobs} == {bobs[0]["run_id"]}
        assert bobs[0]["run_id"] != sent[0]["run_id"], "bob received alice's events"

        # then one quiet window on all three: nothing of alice's reaches bob late, and bob's
        # run reaches neither of alice's connections
        late = dict(
            zip(
                ("bob", "alice 1", "alice 2"),
                Ws.silent_together([bystander, sender, watcher]),
                strict=True,
            )
        )
        assert late == {"bob": None, "alice 1": None, "alice 2": None}, f"a stray frame: {late!r}"

"""The critical path, as a client written outside the project sees it.

Only the env contract, HTTP and WebSocket: nothing here imports from services/. Register, log in,
open a thread, talk to the agent over the WebSocket, and find the same result in the events, the
REST API and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import psycopg
import pytest
from dotenv import dotenv_values

from e2e._support import (
    RUN_FRAMES,
    User,
    UserFactory,
    bearer,
    create_thread,
    login,
    open_ws,
    unique_email,
    word_stats,
)
from realstack.pytest_plugin.fixtures import RealstackHandle

pytestmark = [pytest.mark.e2e, pytest.mark.p1]

MESSAGE = "The cat saw the other cat; the dog saw nothing. Café, café — THE end!"


@pytest.mark.realstack_no_audit("reads the env contract files, not a service")
@pytest.mark.realstack_local("reads the local test stack's runtime.env")
def test_contract_names_the_test_stack_and_matches_runtime_env(
    contract: dict[str, str], realstack: RealstackHandle
) -> None:
    """The env contract is the test stack's (never dev ports) and is what runtime.env holds."""
    assert realstack.stack.env == "test"
    assert contract["REALSTACK_INSTANCE_ID"] == realstack.stack.instance_id
    for name in ("DATABASE_URL", "REDIS_URL", "AUTH_SERVICE_URL", "BACKEND_SERVICE_URL"):
        assert contract.get(name), f"{name} is missing from the contract"
    assert contract["WEBSOCKET_URL"].startswith("ws://")
    runtime = realstack.stack.state_dir / "runtime.env"
    written = {k: v for k, v in dotenv_values(runtime).items() if v is not None}
    assert {k: written.get(k) for k in contract} == contract


def test_auth_and_backend_report_all_checks_ok(
    auth_api: httpx.Client, backend_api: httpx.Client
) -> None:
    """Both services say healthy, with every dependency check "ok"."""
    auth = auth_api.get("/health")
    assert auth.status_code == 200, auth.text
    body = auth.json()
    assert {k: body[k] for k in ("status", "checks")} == {
        "status": "ok",
        "checks": {"postgres": "ok", "redis": "ok"},
    }
    backend = backend_api.get("/health")
    assert backend.status_code == 200, backend.text
    body = backend.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"postgres": "ok", "redis": "ok", "auth": "ok"}


@pytest.mark.realstack_local("the local test stack's own identity")
def test_health_names_the_env_build_and_instance_that_answers(
    auth_api: httpx.Client, backend_api: httpx.Client, realstack: RealstackHandle
) -> None:
    """What `invoke staging.check` compares, and which checkout's stack answers."""
    for api in (auth_api, backend_api):
        body = api.get("/health").json()
        assert (body["env"], body["build"]) == ("test", "dev")
        assert body["instance"] == realstack.stack.instance_id


def test_login_issues_an_hs256_token_carrying_the_contract_claims(
    auth_api: httpx.Client, jwt_secret: str
) -> None:
    """Login returns a bearer HS256 JWT with sub, email, jti, iat, exp and its expires_in."""
    email, password = unique_email(), "correct horse battery"
    registered = auth_api.post("/auth/register", json={"email": email, "password": password})
    assert registered.status_code == 201, registered.text
    response = auth_api.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert isinstance(body["expires_in"], int)
    assert body["expires_in"] > 0
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
    claims = jwt.decode(body["access_token"], jwt_secret, algorithms=["HS256"])
    assert claims["sub"] == registered.json()["id"]
    assert claims["email"] == email
    assert len(claims["jti"]) == 32
    assert abs(claims["exp"] - claims["iat"] - body["expires_in"]) <= 1


@pytest.mark.realstack_local("reads auth's users table and the local stack's scrypt cost")
def test_passwords_are_stored_as_salted_scrypt_at_the_cost_the_env_sets(
    db: psycopg.Connection[tuple[Any, ...]], realstack: RealstackHandle, user: UserFactory
) -> None:
    """``scrypt$n$8$1$salt$hash`` with the env's ``AUTH_SCRYPT_N`` (the test env's is cheaper
    than production's): never the password, a fresh salt per account."""
    cost = realstack.stack.service("auth").env.get("AUTH_SCRYPT_N")
    assert cost, "auth gets no AUTH_SCRYPT_N from the manifest"
    alice, bob = user(), user()
    stored = dict(
        db.execute(
            "SELECT email, password_hash FROM users WHERE email = ANY(%s)",
            ([alice.email, bob.email],),
        ).fetchall()
    )
    salts = set()
    for account in (alice, bob):
        scheme, n, r, p, salt, digest = stored[account.email].split("$")
        assert (scheme, n, r, p) == ("scrypt", cost, "8", "1"), stored[account.email]
        assert len(bytes.fromhex(salt)) == 16
        assert len(bytes.fromhex(digest)) == 64
        assert account.password not in stored[account.email]
        salts.add(salt)
    assert len(salts) == 2, "two accounts must not share a salt"


def test_verify_returns_the_identity_of_the_token(
    auth_api: httpx.Client, user: UserFactory
) -> None:
    """GET /auth/verify answers the token's sub and email."""
    alice = user()
    response = auth_api.get("/auth/verify", headers=alice.auth)
    assert response.status_code == 200, response.text
    assert response.json() == {"sub": alice.sub, "email": alice.email}


def test_a_second_login_gives_a_second_working_token(
    auth_api: httpx.Client, backend_api: httpx.Client, user: UserFactory
) -> None:
    """Logging in again yields a distinct token that the backend accepts too."""
    alice = user()
    again = login(auth_api, alice.email, alice.password)
    assert again != alice.token
    response = backend_api.post("/api/threads", json={"title": "second"}, headers=bearer(again))
    assert response.status_code == 201, response.text


def test_register_login_thread_message_and_agent_run_end_to_end(
    backend_api: httpx.Client,
    ws_base: str,
    db: psycopg.Connection[tuple[Any, ...]],
    user: UserFactory,
) -> None:
    """Golden path: five ordered events, one run_id, the true word stats, stored everywhere."""
    alice: User = user()

    thread = create_thread(backend_api, alice, "golden path")
    assert thread["title"] == "golden path"
    assert thread["created_at"]

    posted = backend_api.post(
        f"/api/threads/{thread['id']}/messages", json={"content": "hello"}, headers=alice.auth
    )
    assert posted.status_code == 201, posted.text
    message = posted.json()
    assert message["role"] == "user"
    assert message["content"] == "hello"
    assert str(message["thread_id"]) == str(thread["id"])
    assert message["created_at"]

    expected = word_stats(MESSAGE)
    with open_ws(ws_base, alice.token) as ws:
        frames = ws.run_agent(thread["id"], MESSAGE)

    assert [f["type"] for f in frames] == list(RUN_FRAMES), frames
    run_id = frames[0]["run_id"]
    assert isinstance(run_id, str)
    assert run_id
    assert all(f["run_id"] == run_id for f in frames), frames
    assert all(str(f["thread_id"]) == str(thread["id"]) for f in frames), frames
    by_type = {f["type"]: f for f in frames}
    assert by_type["tool_executing"]["tool"] == "word_stats"
    assert by_type["tool_completed"]["tool"] == "word_stats"
    assert by_type["tool_completed"]["result"] == expected
    assert by_type["agent_completed"]["result"] == expected

    row = db.execute(
        "SELECT status, result, user_id, thread_id, completed_at FROM runs WHERE id = %s",
        (run_id,),
    ).fetchone()
    assert row is not None, f"no runs row with id {run_id}"
    status, result, user_id, thread_id, completed_at = row
    assert status == "completed"
    assert result == expected
    assert user_id == alice.sub
    assert str(thread_id) == str(thread["id"])
    assert completed_at is not None

    run = backend_api.get(f"/api/runs/{run_id}", headers=alice.auth)
    assert run.status_code == 200, run.text
    body = run.json()
    assert body["id"] == run_id
    assert str(body["thread_id"]) == str(thread["id"])
    assert body["status"] == "completed"
    assert body["result"] == expected
    assert body["created_at"]
    assert body["completed_at"]

    listed = backend_api.get(f"/api/threads/{thread['id']}/messages", headers=alice.auth)
    assert listed.status_code == 200, listed.text
    messages = listed.json()
    assert [m["role"] for m in messages] == ["user", "user", "assistant"], messages
    assert [m["content"] for m in messages[:2]] == ["hello", MESSAGE]
    assert isinstance(messages[2]["content"], str)
    assert messages[2]["content"].strip(), "the assistant message must summarise the run"


def test_bad_frame_gets_an_error_and_the_connection_stays_open(
    backend_api: httpx.Client, ws_base: str, user: UserFactory
) -> None:
    """Malformed frames get an error frame; the same connection still runs the agent."""
    alice = user()
    thread = create_thread(backend_api, alice)
    with open_ws(ws_base, alice.token) as ws:
        ws.send_text("this is not json")
        reply = ws.recv()
        assert reply["type"] == "error", reply
        assert reply.get("detail"), reply
        ws.send({"type": "user_message", "content": "no thread id"})
        reply = ws.recv()
        assert reply["type"] == "error", reply
        frames = ws.run_agent(thread["id"], "still open")
    assert [f["type"] for f in frames] == list(RUN_FRAMES)

"""Malformed input is the client's error: a 422 with a detail, never a 500 or a 503.

Every JSON endpoint (register, login, threads, messages) and the WebSocket get what an outside
tester sent: deep nesting, 5000-digit numbers, invalid UTF-8, NUL characters, lone surrogates
and over-long strings. The limits are the contract's (services/README.md).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from e2e._support import (
    RUN_FRAMES,
    User,
    UserFactory,
    bearer,
    create_thread,
    detail_of,
    login,
    open_ws,
    unique_email,
)

pytestmark = [pytest.mark.e2e, pytest.mark.p2]

# The contract's maximum lengths, in characters.
MAX_EMAIL, MAX_PASSWORD, MAX_TITLE, MAX_CONTENT = 254, 1024, 200, 32_000

MALFORMED_JSON: dict[str, bytes] = {
    "nested-5000-deep": b'{"title": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "5000-digit-number": b'{"title": ' + b"9" * 5000 + b"}",
    "bare-5000-digit-number": b"9" * 5000,
    "invalid-utf8": b'{"email": "\xff\xfe"}',
}

# name → how to spoil a valid value of a field with maximum length ``limit``
Defect = Callable[[str, int], str]
DEFECTS: dict[str, Defect] = {
    "nul": lambda value, limit: value[:1] + "\x00" + value[1:],
    "lone-surrogate": lambda value, limit: value[:1] + "\ud800" + value[1:],
    "one-over-the-limit": lambda value, limit: "a" * (limit + 1 - len(value)) + value,
    # 20,000+ incompressible characters: PostgreSQL's index on email refused such an e-mail
    # (a 503 "dependency unavailable" before lengths were checked)
    "far-over-the-limit": lambda value, limit: secrets.token_hex(max(10_000, limit)) + value,
}


@dataclass(frozen=True)
class Endpoint:
    client: httpx.Client
    path: str
    headers: dict[str, str]

    def post(self, body: bytes) -> httpx.Response:
        return self.client.post(
            self.path, content=body, headers={**self.headers, "Content-Type": "application/json"}
        )


@dataclass(frozen=True)
class TextField:
    endpoint: str
    name: str
    limit: int
    valid_body: dict[str, str]

    def body_with(self, value: str) -> bytes:
        """The valid body with this field replaced; ``json.dumps`` escapes NUL and surrogates."""
        return json.dumps({**self.valid_body, self.name: value}).encode()


def json_endpoints(
    auth_api: httpx.Client, backend_api: httpx.Client, alice: User
) -> dict[str, Endpoint]:
    """Every endpoint that reads a JSON body, ready to post as ``alice`` to her own thread."""
    thread = create_thread(backend_api, alice)
    return {
        "POST /auth/register": Endpoint(auth_api, "/auth/register", {}),
        "POST /auth/login": Endpoint(auth_api, "/auth/login", {}),
        "POST /api/threads": Endpoint(backend_api, "/api/threads", alice.auth),
        "POST /api/threads/{id}/messages": Endpoint(
            backend_api, f"/api/threads/{thread['id']}/messages", alice.auth
        ),
    }


def text_fields(alice: User) -> dict[str, TextField]:
    """Every string field of those endpoints, each with a body that is valid as it stands."""
    new = {"email": unique_email(), "password": "long-enough-password"}
    known = {"email": alice.email, "password": alice.password}
    return {
        "register email": TextField("POST /auth/register", "email", MAX_EMAIL, new),
        "register password": TextField("POST /auth/register", "password", MAX_PASSWORD, new),
        "login email": TextField("POST /auth/login", "email", MAX_EMAIL, known),
        "login password": TextField("POST /auth/login", "password", MAX_PASSWORD, known),
        "thread title": TextField("POST /api/threads", "title", MAX_TITLE, {"title": "a title"}),
        "message content": TextField(
            "POST /api/threads/{id}/messages", "content", MAX_CONTENT, {"content": "hello"}
        ),
    }


def summary(responses: dict[str, httpx.Response]) -> dict[str, tuple[int, Any]]:
    return {where: (r.status_code, detail_of(r)) for where, r in responses.items()}


# --------------------------------------------------------------------------- HTTP


@pytest.mark.parametrize("kind", sorted(MALFORMED_JSON))
def test_malformed_json_is_422_on_every_json_endpoint(
    auth_api: httpx.Client, backend_api: httpx.Client, user: UserFactory, kind: str
) -> None:
    """Deep nesting, a 5000-digit number or invalid UTF-8 is a 422 with a detail everywhere."""
    endpoints = json_endpoints(auth_api, backend_api, user())
    responses = {where: e.post(MALFORMED_JSON[kind]) for where, e in endpoints.items()}
    got = summary(responses)
    assert {where: code for where, (code, _) in got.items()} == dict.fromkeys(endpoints, 422), got
    assert all(detail for _, detail in got.values()), got


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_a_bad_text_field_is_422_on_every_json_endpoint(
    auth_api: httpx.Client, backend_api: httpx.Client, user: UserFactory, defect: str
) -> None:
    """A NUL, a lone surrogate or an over-long value in any string field is a 422, not a 500/503."""
    alice = user()
    endpoints = json_endpoints(auth_api, backend_api, alice)
    fields = text_fields(alice)
    spoil = DEFECTS[defect]
    responses = {
        label: endpoints[f.endpoint].post(f.body_with(spoil(f.valid_body[f.name], f.limit)))
        for label, f in fields.items()
    }
    got = summary(responses)
    assert {label: code for label, (code, _) in got.items()} == dict.fromkeys(fields, 422), got
    assert all(f"'{fields[label].name}'" in str(d) for label, (_, d) in got.items()), got


def test_text_fields_at_their_maximum_length_are_accepted(
    auth_api: httpx.Client, backend_api: httpx.Client
) -> None:
    """The limits are inclusive and count characters: each field at its maximum passes."""
    suffix = unique_email()
    email, password = "a" * (MAX_EMAIL - len(suffix)) + suffix, "p" * MAX_PASSWORD
    registered = auth_api.post("/auth/register", json={"email": email, "password": password})
    assert registered.status_code == 201, registered.text
    token = login(auth_api, email, password)
    thread = backend_api.post(
        "/api/threads", json={"title": "é" * MAX_TITLE}, headers=bearer(token)
    )
    assert thread.status_code == 201, thread.text
    content = "ü" * MAX_CONTENT
    message = backend_api.post(
        f"/api/threads/{thread.json()['id']}/messages",
        json={"content": content},
        headers=bearer(token),
    )
    assert message.status_code == 201, message.text[:200]
    assert message.json()["content"] == content


def test_a_thread_id_too_large_for_any_integer_column_is_404(
    backend_api: httpx.Client, user: UserFactory
) -> None:
    """A 5000-digit thread id in the path names no thread: 404 on both message routes."""
    alice = user()
    path = f"/api/threads/{'9' * 5000}/messages"
    responses = {
        "GET": backend_api.get(path, headers=alice.auth),
        "POST": backend_api.post(path, json={"content": "x"}, headers=alice.auth),
    }
    assert summary(responses) == dict.fromkeys(responses, (404, "thread not found"))


# --------------------------------------------------------------------------- WebSocket


def test_malformed_frames_get_an_error_frame_and_start_no_run(
    backend_api: httpx.Client, ws_base: str, user: UserFactory
) -> None:
    """Each bad frame gets an error (no run); the same connection then still runs the agent."""
    alice = user()
    thread_id = create_thread(backend_api, alice)["id"]

    def message(**fields: object) -> str:
        frame = {"type": "user_message", "thread_id": thread_id, "content": "hello", **fields}
        return json.dumps(frame)

    frames = {
        "nested 5000 deep": "[" * 5000 + "]" * 5000,
        "a 5000-digit number": message()[:-1] + ', "extra": ' + "9" * 5000 + "}",
        "thread_id of 5000 digits": message(thread_id="9" * 5000),
        "thread_id in superscript digits": message(thread_id="²"),
        "NUL in content": message(content="a\x00b"),
        "lone surrogate in content": message(content="a\ud800b"),
        "content over the limit": message(content="c" * (MAX_CONTENT + 1)),
    }
    with open_ws(ws_base, alice.token) as ws:
        replies = {}
        for kind, text in frames.items():
            ws.send_text(text)
            replies[kind] = ws.recv()
        run = ws.run_agent(thread_id, "still serving")
    not_refused = {
        kind: reply
        for kind, reply in replies.items()
        if reply.get("type") != "error" or not reply.get("detail") or "run_id" in reply
    }
    assert not not_refused, f"expected an error frame without a run_id: {not_refused}"
    assert [f["type"] for f in run] == list(RUN_FRAMES)
    stored = backend_api.get(f"/api/threads/{thread_id}/messages", headers=alice.auth)
    assert [m["content"] for m in stored.json() if m["role"] == "user"] == ["still serving"]

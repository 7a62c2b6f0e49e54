"""Every way in without valid credentials is refused, over HTTP and WebSocket.

Hand-made tokens are signed with the key auth runs with (the ``jwt_secret`` fixture); a control
test shows such a token is accepted when valid, so each rejection below is about the one thing
the test changes, not about the key.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import httpx
import jwt
import pytest
import redis

from e2e._support import (
    POLICY_VIOLATION,
    RUN_FRAMES,
    User,
    UserFactory,
    bearer,
    claims_for,
    create_thread,
    detail_of,
    hs256,
    login,
    open_ws,
    refusal_of,
    unique_email,
    unsigned,
)

pytestmark = [pytest.mark.e2e]

OTHER_KEY = "a-key-the-auth-service-has-never-seen-0123456789abcdef"

# name → how to make a bad token for a real user, given the stack's signing key
BadToken = Callable[[User, str], str]
BAD_TOKENS: dict[str, BadToken] = {
    "garbage": lambda u, key: "not-a-jwt",
    "expired": lambda u, key: hs256(claims_for(u, expires_in=-600, issued_ago=1500), key),
    "forged-signature": lambda u, key: hs256(claims_for(u), OTHER_KEY),
    "alg-none": lambda u, key: unsigned(claims_for(u)),
    "tampered-payload": lambda u, key: _swap_payload(hs256(claims_for(u), key), u),
    # A JWT's segments are unpadded base64url; a lenient decoder reads "sig=" as "sig".
    "padded-signature": lambda u, key: hs256(claims_for(u), key) + "=",
}


def _swap_payload(token: str, user: User) -> str:
    """Keep the valid signature, replace the payload (sub of someone else)."""
    header, _, signature = token.split(".")
    forged = unsigned({**claims_for(user), "sub": "1"}).split(".")[1]
    return f"{header}.{forged}.{signature}"


# --------------------------------------------------------------------------- register / login


@pytest.mark.p1
def test_login_with_a_wrong_password_is_401(auth_api: httpx.Client, user: UserFactory) -> None:
    """A wrong password gets 401 with a detail, and no token."""
    alice = user()
    response = auth_api.post(
        "/auth/login", json={"email": alice.email, "password": alice.password + "x"}
    )
    assert response.status_code == 401, response.text
    assert detail_of(response)
    assert "access_token" not in response.json()


@pytest.mark.p2
def test_login_of_an_unknown_email_is_401(auth_api: httpx.Client) -> None:
    """An e-mail nobody registered gets the same 401 as a wrong password."""
    response = auth_api.post(
        "/auth/login", json={"email": unique_email("nobody"), "password": "whatever-password"}
    )
    assert response.status_code == 401, response.text
    assert detail_of(response)


@pytest.mark.p1
def test_registering_the_same_email_twice_is_409(auth_api: httpx.Client) -> None:
    """The second registration of an e-mail is a conflict."""
    body = {"email": unique_email(), "password": "long-enough-password"}
    assert auth_api.post("/auth/register", json=body).status_code == 201
    again = auth_api.post("/auth/register", json={**body, "password": "another-password"})
    assert again.status_code == 409, again.text
    assert detail_of(again)


@pytest.mark.p1
@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"this is not json", "not JSON"),
        (b'{"email": "no-at-sign.example.test", "password": "long-enough"}', "email without @"),
        (b'{"email": "short@example.test", "password": "1234567"}', "password of 7 characters"),
        (b'{"password": "long-enough-password"}', "no email"),
        (b'{"email": "nopass@example.test"}', "no password"),
        (b'["a", "list"]', "not an object"),
    ],
)
def test_invalid_registration_is_422_with_a_detail(
    auth_api: httpx.Client, content: bytes, why: str
) -> None:
    """Registration input that is not JSON, lacks an @ or has a short password is 422."""
    response = auth_api.post(
        "/auth/register", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, f"{why}: {response.status_code} {response.text}"
    assert detail_of(response), f"{why}: 422 without a detail: {response.text}"


# --------------------------------------------------------------------------- tokens over HTTP


@pytest.mark.p1
def test_requests_without_a_token_are_401(
    auth_api: httpx.Client, backend_api: httpx.Client
) -> None:
    """No Authorization header: 401 from /auth/verify and from every backend /api route."""
    assert auth_api.get("/auth/verify").status_code == 401
    responses = {
        "POST /api/threads": backend_api.post("/api/threads", json={"title": "x"}),
        "GET /api/threads/1/messages": backend_api.get("/api/threads/1/messages"),
        "POST /api/threads/1/messages": backend_api.post(
            "/api/threads/1/messages", json={"content": "x"}
        ),
        "GET /api/runs/<uuid>": backend_api.get("/api/runs/00000000-0000-4000-8000-000000000000"),
    }
    codes = {route: r.status_code for route, r in responses.items()}
    assert codes == dict.fromkeys(responses, 401)
    assert all(detail_of(r) for r in responses.values())


@pytest.mark.p1
def test_a_token_crafted_with_the_stack_key_is_accepted(
    auth_api: httpx.Client, backend_api: httpx.Client, jwt_secret: str, user: UserFactory
) -> None:
    """Control: a valid hand-made token passes, so the rejections below test one defect each."""
    token = hs256(claims_for(user()), jwt_secret)
    assert auth_api.get("/auth/verify", headers=bearer(token)).status_code == 200
    response = backend_api.post("/api/threads", json={"title": "crafted"}, headers=bearer(token))
    assert response.status_code == 201, response.text


@pytest.mark.p1
@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_invalid_tokens_are_401_on_verify_and_backend(
    auth_api: httpx.Client, backend_api: httpx.Client, jwt_secret: str, user: UserFactory, kind: str
) -> None:
    """Garbage, expired, foreign-signed, ``alg: none``, tampered and padded tokens: all refused."""
    token = BAD_TOKENS[kind](user(), jwt_secret)
    verify = auth_api.get("/auth/verify", headers=bearer(token))
    assert verify.status_code == 401, (
        f"{kind}: /auth/verify said {verify.status_code} {verify.text}"
    )
    threads = backend_api.post("/api/threads", json={"title": "x"}, headers=bearer(token))
    assert threads.status_code == 401, f"{kind}: /api/threads said {threads.status_code}"


@pytest.mark.p2
def test_a_token_signed_with_another_hmac_algorithm_is_401(
    auth_api: httpx.Client, jwt_secret: str, user: UserFactory
) -> None:
    """Only HS256 is accepted: the stack's own key under HS512 is still refused."""
    with warnings.catch_warnings():  # PyJWT finds the key short for HS512; irrelevant here
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        token = jwt.encode(claims_for(user()), jwt_secret, algorithm="HS512")
    assert auth_api.get("/auth/verify", headers=bearer(token)).status_code == 401


@pytest.mark.p2
def test_a_scheme_other_than_bearer_is_401(auth_api: httpx.Client, user: UserFactory) -> None:
    """The token must come as ``Bearer``; the bare token or another scheme is refused."""
    alice = user()
    for value in (alice.token, f"Basic {alice.token}", f"Token {alice.token}", "Bearer"):
        response = auth_api.get("/auth/verify", headers={"Authorization": value})
        assert response.status_code == 401, f"{value[:12]!r}…: {response.status_code}"


# --------------------------------------------------------------------------- logout


@pytest.mark.p1
def test_logout_revokes_the_token_for_auth_and_backend(
    auth_api: httpx.Client, backend_api: httpx.Client, user: UserFactory
) -> None:
    """Logout answers 204; afterwards verify and the backend both refuse that token."""
    alice = user()
    assert auth_api.get("/auth/verify", headers=alice.auth).status_code == 200
    logout = auth_api.post("/auth/logout", headers=alice.auth)
    assert logout.status_code == 204, logout.text
    assert auth_api.get("/auth/verify", headers=alice.auth).status_code == 401
    response = backend_api.post("/api/threads", json={"title": "x"}, headers=alice.auth)
    assert response.status_code == 401, response.text


@pytest.mark.p2
def test_logout_revokes_only_that_token(auth_api: httpx.Client, user: UserFactory) -> None:
    """Another session of the same user keeps working after one session logs out."""
    alice = user()
    second = login(auth_api, alice.email, alice.password)
    assert auth_api.post("/auth/logout", headers=alice.auth).status_code == 204
    assert auth_api.get("/auth/verify", headers=bearer(second)).status_code == 200


@pytest.mark.p2
def test_logout_without_a_valid_token_is_401(auth_api: httpx.Client) -> None:
    """Logging out needs a token to revoke."""
    assert auth_api.post("/auth/logout").status_code == 401
    assert auth_api.post("/auth/logout", headers=bearer("not-a-jwt")).status_code == 401


@pytest.mark.p2
def test_logout_stores_the_revocation_in_redis_until_the_token_expires(
    auth_api: httpx.Client, jwt_secret: str, services_redis: redis.Redis, user: UserFactory
) -> None:
    """``auth:revoked:<jti>`` exists after logout with a TTL no longer than the token's life."""
    alice = user()
    claims = jwt.decode(alice.token, jwt_secret, algorithms=["HS256"])
    # The token's whole seconds left when logout was asked: Redis answers TTL rounded to the
    # nearest second of what is left, so a comparison with the time *after* the call (or its
    # fraction) fails across a second boundary although the service did nothing wrong.
    life_left_at_logout = int(claims["exp"]) - int(time.time())
    assert auth_api.post("/auth/logout", headers=alice.auth).status_code == 204
    ttl = services_redis.ttl(f"auth:revoked:{claims['jti']}")
    assert isinstance(ttl, int)
    assert 1 <= ttl <= life_left_at_logout, f"TTL {ttl}, claims {claims}"


# --------------------------------------------------------------------------- WebSocket


@pytest.mark.p1
def test_websocket_without_a_token_is_closed_with_1008(ws_base: str) -> None:
    """No token on the upgrade: the server closes with policy violation (1008)."""
    assert refusal_of(ws_base) == ("closed", POLICY_VIOLATION)


@pytest.mark.p1
@pytest.mark.parametrize("via", ["header", "query"])
@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_websocket_with_an_invalid_token_is_closed_with_1008(
    ws_base: str, jwt_secret: str, user: UserFactory, kind: str, via: str
) -> None:
    """Every kind of invalid token, as header or ``?token=``, is closed with 1008."""
    token = BAD_TOKENS[kind](user(), jwt_secret)
    outcome = refusal_of(ws_base, token, via="header" if via == "header" else "query")
    assert outcome == ("closed", POLICY_VIOLATION), f"{kind} via {via}: {outcome}"


@pytest.mark.p1
def test_websocket_with_a_revoked_token_is_closed_with_1008(
    auth_api: httpx.Client, ws_base: str, user: UserFactory
) -> None:
    """A logged-out token no longer opens the WebSocket."""
    alice = user()
    assert auth_api.post("/auth/logout", headers=alice.auth).status_code == 204
    assert refusal_of(ws_base, alice.token) == ("closed", POLICY_VIOLATION)


@pytest.mark.p1
def test_websocket_accepts_the_token_as_query_parameter(
    backend_api: httpx.Client, ws_base: str, user: UserFactory
) -> None:
    """``?token=`` works where a header cannot be set (browsers)."""
    alice = user()
    thread = create_thread(backend_api, alice)
    with open_ws(ws_base, alice.token, via="query") as ws:
        frames = ws.run_agent(thread["id"], "token in the query")
    assert [f["type"] for f in frames] == list(RUN_FRAMES)

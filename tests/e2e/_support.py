"""Client-side helpers for the e2e suite: nothing here imports from services/.

The suite is "a client written outside the project": it knows only the env contract, HTTP and
WebSocket. Every network call has a timeout; every WebSocket receive has one too, so a service
that goes quiet fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from e2e._stack import HTTP_TIMEOUT
from realstack.staging.net import trust
from realstack.waiting import WaitTimeout, wait_until

Frame = dict[str, Any]


WS_OPEN_TIMEOUT = 10.0  # TCP connect + upgrade
WS_CLOSE_TIMEOUT = 5.0
FRAME_TIMEOUT = 15.0  # one frame of an agent run; a run takes milliseconds on a healthy stack
QUIET_WINDOW = 0.5  # how long a connection must stay silent to count as "received nothing"

#: The frames of one agent run, in the order the contract prescribes.
RUN_FRAMES = (
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_completed",
)

#: WebSocket close codes from the contract.
POLICY_VIOLATION = 1008  # missing or invalid token
TRY_AGAIN_LATER = 1013  # auth unreachable


# --------------------------------------------------------------------------- the tool, re-derived


def word_stats(text: str) -> dict[str, Any]:
    """The contract's ``word_stats`` computed independently: words are lower-cased ``\\w+`` runs."""
    words = re.findall(r"\w+", text.lower())
    counts = Counter(words)
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:5]
    return {
        "words": len(words),
        "unique_words": len(counts),
        "characters": len(text),
        "top_words": [[word, count] for word, count in top],
    }


# --------------------------------------------------------------------------- users and tokens


@dataclass(frozen=True)
class User:
    email: str
    password: str
    token: str
    sub: str

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header for this user's current token."""
        return bearer(self.token)


UserFactory = Callable[[], User]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique_email(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex}@example.test"


def register_and_login(auth: httpx.Client) -> User:
    """A brand-new user with a fresh token, through the public auth API only."""
    email, password = unique_email(), f"pw-{uuid.uuid4().hex[:12]}"
    registered = auth.post("/auth/register", json={"email": email, "password": password})
    assert registered.status_code == 201, f"register: {registered.status_code} {registered.text}"
    body = registered.json()
    assert isinstance(body.get("id"), str), f"register must return a string id, got {body!r}"
    assert body.get("email") == email, f"register must echo the email, got {body!r}"
    token = login(auth, email, password)
    return User(email=email, password=password, token=token, sub=body["id"])


def login(auth: httpx.Client, email: str, password: str) -> str:
    response = auth.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, f"login: {response.status_code} {response.text}"
    body = response.json()
    assert body.get("token_type") == "bearer", f"login token_type: {body!r}"
    assert isinstance(body.get("access_token"), str), f"login access_token: {body!r}"
    return str(body["access_token"])


def claims_for(user: User, *, expires_in: float = 300.0, issued_ago: float = 0.0) -> dict[str, Any]:
    """The claim set auth issues (sub, email, jti, iat, exp), for crafting tokens by hand."""
    now = int(time.time())
    return {
        "sub": user.sub,
        "email": user.email,
        "jti": uuid.uuid4().hex,
        "iat": int(now - issued_ago),
        "exp": int(now + expires_in),
    }


def hs256(claims: Mapping[str, Any], key: str) -> str:
    return jwt.encode(dict(claims), key, algorithm="HS256")


def unsigned(claims: Mapping[str, Any]) -> str:
    """An ``alg: none`` JWT: header and payload, empty signature."""

    def part(obj: Mapping[str, Any]) -> str:
        raw = json.dumps(dict(obj), separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


# --------------------------------------------------------------------------- REST helpers


def http_client(base_url: str) -> httpx.Client:
    """A real HTTP client aimed at ``base_url`` (real sockets, no proxy from the environment).

    It trusts what ``invoke staging.check`` trusts: the system's CAs, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR``. httpx alone would trust certifi's bundle only (``trust_env=False``), and
    a staging behind a private CA would pass the check, then fail every test."""
    return httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT, verify=trust(), trust_env=False)


def create_thread(backend: httpx.Client, user: User, title: str = "e2e thread") -> Frame:
    response = backend.post("/api/threads", json={"title": title}, headers=user.auth)
    assert response.status_code == 201, f"create thread: {response.status_code} {response.text}"
    body: Frame = response.json()
    return body


def detail_of(response: httpx.Response) -> object:
    """The ``detail`` of an error body (None when the body is not a JSON object with one)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("detail") if isinstance(body, dict) else None


# --------------------------------------------------------------------------- waiting


def eventually(check: Callable[[], str | None], timeout: float, what: str) -> float:
    """Wait until ``check`` returns None (realstack's poll loop); fail with the last reason."""
    try:
        return wait_until(check, timeout)
    except WaitTimeout as exc:
        pytest.fail(f"{what}: not within {timeout:.0f}s; last: {exc.last_error}")


# --------------------------------------------------------------------------- WebSocket


def ws_url(base: str, token: str | None = None) -> str:
    """``WEBSOCKET_URL`` with the token as ``?token=`` (the browser way)."""
    return base if token is None else f"{base}?{urlencode({'token': token})}"


T = TypeVar("T")
_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the suite's one WebSocket event loop (a daemon thread of this process,
    started on first use) and wait for its result; its exceptions are raised here.

    Every connection's I/O happens on that loop's thread alone. websockets' sync client reads
    in a thread of its own while the caller writes, and a TLS socket (a ``wss://`` staging)
    must not be read and written from two threads at once: OpenSSL's record state is shared,
    and such races lose frames or upgrades now and then (python-socketio #1568, cpp-httplib
    #2551; realstack's own ``staging.check`` hung on it)."""
    global _loop  # noqa: PLW0603 - one loop per process, made on first use
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="e2e-ws", daemon=True).start()
        loop = _loop
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


class Ws:
    """A WebSocket client connection with JSON frames and a timeout on every receive, for
    tests written in plain sync code (the connection itself lives on :func:`_run`'s loop)."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    def send(self, frame: Mapping[str, Any]) -> None:
        self.send_text(json.dumps(dict(frame)))

    def send_text(self, text: str) -> None:
        """A raw text frame, for frames ``send`` cannot produce (malformed JSON)."""
        _run(self.conn.send(text))

    def _recv(self, timeout: float) -> str | bytes:
        """The next message; TimeoutError after ``timeout`` (websockets' recv is safe to
        cancel: a message arriving meanwhile waits for the next call)."""
        return _run(asyncio.wait_for(self.conn.recv(), timeout))

    def recv(self, timeout: float = FRAME_TIMEOUT) -> Frame:
        try:
            raw = self._recv(timeout)
        except TimeoutError:
            pytest.fail(f"no WebSocket frame within {timeout:.1f}s")
        frame = json.loads(raw)
        assert isinstance(frame, dict), f"every frame must be a JSON object, got {raw!r}"
        return frame

    def silent_for(self, seconds: float = QUIET_WINDOW) -> Frame | None:
        """The first frame arriving within ``seconds``; None if the connection stays quiet."""
        try:
            raw = self._recv(seconds)
        except TimeoutError:
            return None
        frame: Frame = json.loads(raw)
        return frame

    @staticmethod
    def silent_together(
        connections: Sequence[Ws], seconds: float = QUIET_WINDOW
    ) -> list[Frame | None]:
        """Each connection's first frame within one window of ``seconds`` they share (None:
        it stayed quiet): the proof of one window per connection, in the time of one."""
        with ThreadPoolExecutor(len(connections)) as pool:
            return list(pool.map(lambda ws: ws.silent_for(seconds), connections))

    def ready(self, timeout: float = FRAME_TIMEOUT) -> None:
        """Round-trip a bad frame: the error reply proves the server is serving this connection."""
        self.send({"type": "e2e_not_a_frame_type"})
        reply = self.recv(timeout)
        assert reply.get("type") == "error", f"a bad frame must get an error frame, got {reply!r}"

    def run_agent(
        self, thread_id: object, content: str, timeout: float = FRAME_TIMEOUT
    ) -> list[Frame]:
        """Send ``user_message``; every frame received up to and including ``agent_completed``."""
        self.send({"type": "user_message", "thread_id": thread_id, "content": content})
        return self.frames_until_completed(timeout)

    def frames_until_completed(self, timeout: float = FRAME_TIMEOUT) -> list[Frame]:
        frames: list[Frame] = []
        while True:
            frame = self.recv(timeout)
            frames.append(frame)
            assert frame.get("type") != "error", f"the run failed: {frames!r}"
            if frame.get("type") == "agent_completed":
                return frames
            assert len(frames) < 50, f"no agent_completed after 50 frames: {frames!r}"

    def close_code(self, timeout: float = FRAME_TIMEOUT) -> int | None:
        """Wait for the server to close this connection; its close code (None: no close frame)."""
        try:
            frame = self._recv(timeout)
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None
        except TimeoutError:
            pytest.fail(f"the server kept the connection open for {timeout:.1f}s")
        pytest.fail(f"expected the server to close the connection, got a frame: {frame!r}")


@contextmanager
def open_ws(
    url: str, token: str | None = None, *, via: Literal["header", "query"] = "header"
) -> Iterator[Ws]:
    """An open WebSocket to ``url``; the token in the Authorization header or as ``?token=``."""
    headers = bearer(token) if token is not None and via == "header" else None
    target = ws_url(url, token) if via == "query" else url

    tls = trust() if target.startswith("wss://") else None  # the check's roots; ws://: none

    async def opened() -> ClientConnection:
        return await connect(
            target,
            additional_headers=headers,
            open_timeout=WS_OPEN_TIMEOUT,
            close_timeout=WS_CLOSE_TIMEOUT,
            proxy=None,
            ssl=tls,
        )

    conn = _run(opened())
    try:
        yield Ws(conn)
    finally:
        _run(conn.close())


Refusal = tuple[Literal["closed"], int | None] | tuple[Literal["refused"], str]


def refusal_of(
    url: str, token: str | None = None, *, via: Literal["header", "query"] = "header"
) -> Refusal:
    """How the server turns this connection away: closed with a code, or refused at the upgrade.

    Fails the test if the server accepts the connection and keeps serving it.
    """
    try:
        with open_ws(url, token, via=via) as ws:
            try:
                ws.send({"type": "e2e_probe"})
            except ConnectionClosed as exc:
                return ("closed", exc.rcvd.code if exc.rcvd is not None else None)
            return ("closed", ws.close_code())
    except InvalidStatus as exc:
        return ("refused", f"HTTP {exc.response.status_code} at the upgrade")
    except (InvalidHandshake, OSError) as exc:
        return ("refused", f"{type(exc).__name__}: {exc}")

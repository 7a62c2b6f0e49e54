"""Reference backend: threads and messages in PostgreSQL, agent runs streamed over WebSocket.

Served by ``python -m uvicorn backend_service:app`` from this directory (see the manifest in
pyproject.toml). Tokens are checked by asking the auth service on every request, so a logout
takes effect at once. Configuration comes only from the environment; ``services/README.md``
is the contract this module implements.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import backend_store as store
import backend_ws
import httpx
import psycopg
from backend_agent import AgentRunner
from backend_http import (
    CHECK_TIMEOUT,
    InvalidInput,
    bearer_token,
    dependency_down,
    describe,
    health_response,
    http_error,
    invalid_input,
    json_object,
    log,
    redact_tokens_in_logs,
    text_field,
)
from backend_ws import CloseConnection, FrameError
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

AUTH_TIMEOUT = 2.0  # backend → auth calls; auth answers in milliseconds when it is up
MAX_TITLE_LENGTH = 200
MAX_CONTENT_LENGTH = 32_000
# A JWT is three base64url segments without padding: auth's own JWT_SHAPE, the one token
# shape both services accept. Anything else is rejected without asking auth (and can never
# smuggle bytes into the header we forward).
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class SettingsError(Exception):
    """A required setting is missing."""


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from the environment, validated once at startup."""

    database_url: str
    redis_url: str
    auth_service_url: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        names = ("DATABASE_URL", "REDIS_URL", "AUTH_SERVICE_URL")
        missing = [n for n in names if not environ.get(n)]
        if missing:
            raise SettingsError(f"missing required environment variable(s): {', '.join(missing)}")
        return cls(*(environ[n] for n in names))


class AuthUnavailable(Exception):
    """Auth gave no answer (down, timing out or failing): callers answer 503 / close 1013."""


class BackendService:
    """Route handlers over one pool, one Redis client and one HTTP client, opened by lifespan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: AsyncConnectionPool | None = None
        self._redis: Redis | None = None
        self._http: httpx.AsyncClient | None = None
        self._runner: AgentRunner | None = None

    @property
    def pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise RuntimeError("backend service used outside its lifespan")
        return self._pool

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("backend service used outside its lifespan")
        return self._redis

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("backend service used outside its lifespan")
        return self._http

    @property
    def runner(self) -> AgentRunner:
        if self._runner is None:
            raise RuntimeError("backend service used outside its lifespan")
        return self._runner

    @asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        """Open the clients and create the schema; on shutdown let runs finish, then close."""
        pool = AsyncConnectionPool(
            self.settings.database_url,
            min_size=1,
            max_size=10,
            timeout=5.0,
            open=False,
            name="backend",
            check=AsyncConnectionPool.check_connection,  # drop connections a restart broke
        )
        await pool.open(wait=True, timeout=10.0)
        redis = Redis.from_url(
            self.settings.redis_url,
            decode_responses=True,
            socket_connect_timeout=1.0,
            socket_timeout=2.0,
            # Fail fast while Redis is down: a few quick retries, not the default's seconds.
            retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), retries=3),
        )
        # One client for every call to auth: connections are reused, never one per request.
        # TLS only for an https auth URL: building the verifying context (certifi's bundle)
        # costs ~0.2 s here, and plain-http auth never uses it.
        http = httpx.AsyncClient(
            base_url=self.settings.auth_service_url,
            timeout=AUTH_TIMEOUT,
            verify=self.settings.auth_service_url.startswith("https://"),
        )
        runner = AgentRunner(pool, redis)
        try:
            await store.create_schema(pool)
            self._pool, self._redis, self._http, self._runner = pool, redis, http, runner
            log.info("backend service ready (auth at %s)", self.settings.auth_service_url)
            yield
            await runner.drain(timeout=5.0)
        finally:
            self._pool = self._redis = self._http = self._runner = None
            await http.aclose()
            await redis.aclose()
            await pool.close()

    # -- identity --

    async def identify(self, token: str | None) -> str | None:
        """The token's user id according to auth; None if there is no token or auth rejects it."""
        if token is None or not _JWT_SHAPE.fullmatch(token):
            return None
        try:
            response = await self.http.get(
                "/auth/verify", headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise AuthUnavailable(describe(exc)) from exc
        if response.status_code == 401:
            return None
        if response.status_code != 200:
            raise AuthUnavailable(f"auth /auth/verify answered {response.status_code}")
        try:
            sub = response.json().get("sub")
        except (ValueError, AttributeError):
            sub = None
        if not isinstance(sub, str):
            raise AuthUnavailable("auth /auth/verify answered without a 'sub'")
        return sub

    async def current_user(self, request: Request) -> str:
        try:
            user = await self.identify(bearer_token(request.headers))
        except AuthUnavailable as exc:
            log.warning("auth unavailable: %s", exc)
            raise HTTPException(503, "auth service unavailable") from None
        if user is None:
            raise HTTPException(
                401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"}
            )
        return user

    # -- REST --

    async def create_thread(self, request: Request) -> Response:
        user = await self.current_user(request)
        title = text_field(await json_object(request), "title", MAX_TITLE_LENGTH)
        return JSONResponse(await store.create_thread(self.pool, user, title), status_code=201)

    async def post_message(self, request: Request) -> Response:
        user = await self.current_user(request)
        content = text_field(await json_object(request), "content", MAX_CONTENT_LENGTH)
        thread_id = await self._owned_thread(request, user)
        message = await store.add_message(self.pool, user, thread_id, "user", content)
        return JSONResponse(message, status_code=201)

    async def list_messages(self, request: Request) -> Response:
        user = await self.current_user(request)
        thread_id = await self._owned_thread(request, user)
        return JSONResponse(await store.list_messages(self.pool, thread_id))

    async def _owned_thread(self, request: Request, user: str) -> int:
        """The path's thread id if ``user`` owns that thread; else 404 (unknown or foreign)."""
        thread_id = store.thread_id_of(request.path_params["thread_id"])
        if thread_id is None or not await store.owns_thread(self.pool, user, thread_id):
            raise HTTPException(404, "thread not found")
        return thread_id

    async def get_run(self, request: Request) -> Response:
        user = await self.current_user(request)
        run_id: uuid.UUID = request.path_params["run_id"]
        run = await store.get_run(self.pool, user, run_id)
        if run is None:
            raise HTTPException(404, "run not found")
        return JSONResponse(run)

    async def health(self, _: Request) -> Response:
        return await health_response(
            {
                "postgres": self._ping_postgres(),
                "redis": self._ping_redis(),
                "auth": self._ping_auth(),
            }
        )

    async def _ping_postgres(self) -> None:
        async with self.pool.connection(timeout=CHECK_TIMEOUT) as conn:
            await conn.execute("SELECT 1")

    async def _ping_redis(self) -> None:
        await self.redis.ping()

    async def _ping_auth(self) -> None:
        response = await self.http.get("/health", timeout=CHECK_TIMEOUT)
        if response.status_code != 200:
            raise httpx.HTTPStatusError(
                f"auth /health answered {response.status_code}",
                request=response.request,
                response=response,
            )

    # -- WebSocket --

    async def websocket(self, ws: WebSocket) -> None:
        """Authenticate through auth, then hand the connection to ``backend_ws.serve``."""
        token = bearer_token(ws.headers) or ws.query_params.get("token")
        try:
            user = await self.identify(token)
        except AuthUnavailable as exc:
            log.warning("auth unavailable: %s", exc)
            await backend_ws.refuse(ws, 1013, "auth service unavailable")
            return
        if token is None or user is None:
            await backend_ws.refuse(ws, 1008, "missing or invalid token")
            return

        async def on_frame(frame: Mapping[str, Any]) -> None:
            await self._on_frame(token, user, frame)

        await backend_ws.serve(ws, self.redis, user, on_frame)

    async def _on_frame(self, token: str, user: str, frame: Mapping[str, Any]) -> None:
        """``user_message`` → start a run; its events come back through the subscription.

        The token is checked again for every message, so a logout also stops open sockets.
        """
        try:
            still_valid = await self.identify(token) == user
        except AuthUnavailable as exc:
            raise CloseConnection(1013, "auth service unavailable") from exc
        if not still_valid:
            raise CloseConnection(1008, "token no longer valid")
        if frame.get("type") != "user_message":
            raise FrameError("unsupported frame type; expected 'user_message'")
        thread_id = store.thread_id_of(frame.get("thread_id"))
        if thread_id is None:
            raise FrameError("'thread_id' must be a thread id")
        content = text_field(frame, "content", MAX_CONTENT_LENGTH)
        try:
            owned = await store.owns_thread(self.pool, user, thread_id)
        except psycopg.OperationalError as exc:
            raise FrameError(f"database unavailable: {describe(exc)}") from exc
        if not owned:
            raise FrameError("thread not found")
        self.runner.start(user, thread_id, content)


def create_app(settings: Settings) -> Starlette:
    redact_tokens_in_logs()
    service = BackendService(settings)
    # {thread_id} is parsed by the handler: Starlette's int convertor fails (500) on huge ids.
    messages = "/api/threads/{thread_id}/messages"
    return Starlette(
        routes=[
            Route("/api/threads", service.create_thread, methods=["POST"]),
            Route(messages, service.post_message, methods=["POST"]),
            Route(messages, service.list_messages, methods=["GET"]),
            Route("/api/runs/{run_id:uuid}", service.get_run, methods=["GET"]),
            Route("/health", service.health, methods=["GET"]),
            WebSocketRoute("/ws", service.websocket),
        ],
        exception_handlers={
            HTTPException: http_error,
            InvalidInput: invalid_input,
            psycopg.OperationalError: dependency_down,  # includes the pool's PoolTimeout
            RedisConnectionError: dependency_down,
            RedisTimeoutError: dependency_down,
        },
        lifespan=service.lifespan,
        max_body_size=1024 * 1024,
    )


def _app_from_environment() -> Starlette:
    """Fail before serving, with one clear line instead of a traceback, if config is wrong."""
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        raise SystemExit(f"backend_service: {exc}") from None
    return create_app(settings)


app = _app_from_environment()

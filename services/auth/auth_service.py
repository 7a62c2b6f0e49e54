"""Reference auth service: accounts in PostgreSQL, HS256 JWTs, revocation in Redis.

Served by ``python -m uvicorn auth_service:app`` from this directory (see the manifest in
pyproject.toml). Configuration comes only from the environment; ``services/README.md`` is the
contract this module implements.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import jwt
import psycopg
from auth_http import (
    CHECK_TIMEOUT,
    bearer_token,
    dependency_down,
    error_response,
    health_response,
    http_error,
    json_object,
    log,
    text_field,
    unauthorized,
)
from auth_passwords import SCRYPT_N, dummy_hash, hash_password, valid_cost, verify_password
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
from starlette.routing import Route

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 254  # RFC 5321's limit; also keeps the unique index's entries small
REVOKED_PREFIX = "auth:revoked:"
REQUIRED_CLAIMS = ("sub", "email", "jti", "iat", "exp")
# The one token shape both services accept: three base64url segments, *without* padding
# (RFC 7515). PyJWT also tolerates a trailing "=" on a segment; the backend, which refuses
# anything else before asking us, has the same pattern, so every service gives one answer.
JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
SCHEMA_LOCK_KEY = 0x61757468  # "auth": serialises schema creation across instances
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id bigserial PRIMARY KEY,
    email text UNIQUE NOT NULL,
    password_hash text NOT NULL,
    created_at timestamptz DEFAULT now()
)
"""


class SettingsError(Exception):
    """A required setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from the environment, validated once at startup."""

    database_url: str
    redis_url: str
    jwt_secret: str
    token_ttl: int
    scrypt_n: int = SCRYPT_N

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        names = ("DATABASE_URL", "REDIS_URL", "AUTH_JWT_SECRET")
        missing = [n for n in names if not environ.get(n)]
        if missing:
            raise SettingsError(f"missing required environment variable(s): {', '.join(missing)}")
        raw_ttl = environ.get("AUTH_TOKEN_TTL_SECONDS", "900")
        if not raw_ttl.isdigit() or int(raw_ttl) == 0:
            raise SettingsError(f"AUTH_TOKEN_TTL_SECONDS must be a positive integer: {raw_ttl!r}")
        raw_n = environ.get("AUTH_SCRYPT_N") or str(SCRYPT_N)
        if not raw_n.isdigit() or not valid_cost(int(raw_n)):
            raise SettingsError(
                f"AUTH_SCRYPT_N must be a power of two from 1024 to 1048576: {raw_n!r}"
            )
        return cls(
            database_url=environ["DATABASE_URL"],
            redis_url=environ["REDIS_URL"],
            jwt_secret=environ["AUTH_JWT_SECRET"],
            token_ttl=int(raw_ttl),
            scrypt_n=int(raw_n),
        )


def credentials(body: Mapping[str, Any], *, new_account: bool) -> tuple[str, str]:
    """Email and password from a body; the format rules only gate registration."""
    email = text_field(body, "email", MAX_EMAIL_LENGTH)
    password = text_field(body, "password", MAX_PASSWORD_LENGTH)
    if new_account and "@" not in email:
        raise HTTPException(422, "email must contain '@'")
    if new_account and len(password) < MIN_PASSWORD_LENGTH:
        raise HTTPException(422, f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    return email, password


class AuthService:
    """Route handlers over one connection pool and one Redis client, both opened by lifespan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: AsyncConnectionPool | None = None
        self._redis: Redis | None = None
        self._dummy_hash = dummy_hash(settings.scrypt_n)

    @property
    def pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise RuntimeError("auth service used outside its lifespan")
        return self._pool

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("auth service used outside its lifespan")
        return self._redis

    @asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        """Open the pool and Redis client, create the schema; close both on shutdown."""
        pool = AsyncConnectionPool(
            self.settings.database_url,
            min_size=1,
            max_size=10,
            timeout=5.0,
            open=False,
            name="auth",
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
        try:
            async with pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
                await conn.execute(SCHEMA)
            self._pool, self._redis = pool, redis
            log.info("auth service ready")
            yield
        finally:
            self._pool = self._redis = None
            await redis.aclose()
            await pool.close()

    # -- tokens --

    def issue_token(self, user_id: str, email: str) -> str:
        now = int(time.time())
        claims = {
            "sub": user_id,
            "email": email,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + self.settings.token_ttl,
        }
        return jwt.encode(claims, self.settings.jwt_secret, algorithm="HS256")

    def decode_token(self, token: str) -> dict[str, Any] | None:
        """Claims of a well-signed, unexpired HS256 token; None otherwise (never ``alg: none``)."""
        if not JWT_SHAPE.fullmatch(token):
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.settings.jwt_secret,
                algorithms=["HS256"],
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.InvalidTokenError:
            return None
        if not all(isinstance(claims[k], str) for k in ("sub", "email", "jti")):
            return None
        return claims

    async def authenticate(self, request: Request) -> dict[str, Any] | JSONResponse:
        """Claims of the request's valid, unrevoked token, or the 401 to send."""
        token = bearer_token(request)
        if token is None:
            return unauthorized("missing bearer token")
        claims = self.decode_token(token)
        if claims is None:
            return unauthorized("invalid or expired token")
        if await self.redis.exists(REVOKED_PREFIX + claims["jti"]):
            return unauthorized("token revoked")
        return claims

    # -- routes --

    async def register(self, request: Request) -> Response:
        email, password = credentials(await json_object(request), new_account=True)
        password_hash = await asyncio.to_thread(hash_password, password, self.settings.scrypt_n)
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO users (email, password_hash) VALUES (%s, %s)"
                " ON CONFLICT (email) DO NOTHING RETURNING id",
                (email, password_hash),
            )
            row = await cur.fetchone()
        if row is None:
            return error_response(409, "email already registered")
        return JSONResponse({"id": str(row[0]), "email": email}, status_code=201)

    async def login(self, request: Request) -> Response:
        email, password = credentials(await json_object(request), new_account=False)
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, password_hash FROM users WHERE email = %s", (email,)
            )
            row = await cur.fetchone()
        stored = self._dummy_hash if row is None else row[1]
        matches = await asyncio.to_thread(verify_password, password, stored)
        if row is None or not matches:
            return unauthorized("invalid email or password")
        return JSONResponse(
            {
                "access_token": self.issue_token(str(row[0]), email),
                "token_type": "bearer",
                "expires_in": self.settings.token_ttl,
            }
        )

    async def logout(self, request: Request) -> Response:
        claims = await self.authenticate(request)
        if isinstance(claims, Response):
            return claims
        ttl = max(1, int(claims["exp"]) - int(time.time()))
        await self.redis.set(REVOKED_PREFIX + claims["jti"], "1", ex=ttl)
        return Response(status_code=204)

    async def verify(self, request: Request) -> Response:
        claims = await self.authenticate(request)
        if isinstance(claims, Response):
            return claims
        return JSONResponse({"sub": claims["sub"], "email": claims["email"]})

    async def health(self, _: Request) -> Response:
        return await health_response(
            {"postgres": self._ping_postgres(), "redis": self._ping_redis()}
        )

    async def _ping_postgres(self) -> None:
        async with self.pool.connection(timeout=CHECK_TIMEOUT) as conn:
            await conn.execute("SELECT 1")

    async def _ping_redis(self) -> None:
        await self.redis.ping()


def create_app(settings: Settings) -> Starlette:
    service = AuthService(settings)
    return Starlette(
        routes=[
            Route("/auth/register", service.register, methods=["POST"]),
            Route("/auth/login", service.login, methods=["POST"]),
            Route("/auth/logout", service.logout, methods=["POST"]),
            Route("/auth/verify", service.verify, methods=["GET"]),
            Route("/health", service.health, methods=["GET"]),
        ],
        exception_handlers={
            HTTPException: http_error,
            psycopg.OperationalError: dependency_down,  # includes the pool's PoolTimeout
            RedisConnectionError: dependency_down,
            RedisTimeoutError: dependency_down,
        },
        lifespan=service.lifespan,
        max_body_size=64 * 1024,
    )


def _app_from_environment() -> Starlette:
    """Fail before serving, with one clear line instead of a traceback, if config is wrong."""
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        raise SystemExit(f"auth_service: {exc}") from None
    return create_app(settings)


app = _app_from_environment()

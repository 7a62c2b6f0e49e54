"""HTTP plumbing for auth: JSON error bodies, bearer parsing, health checks with deadlines."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Mapping
from typing import Any

import psycopg
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("uvicorn.error")

CHECK_TIMEOUT = 0.8  # below realstack's default probe attempt timeout (1 s): 503, not a hang
MAX_NUMBER_DIGITS = 100  # longest integer literal a JSON body may hold


def error_response(
    status: int, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def unauthorized(detail: str) -> JSONResponse:
    return error_response(401, detail, {"WWW-Authenticate": "Bearer"})


def describe(exc: BaseException) -> str:
    """``Type: message``; some errors (timeouts) have no message, the type still says what."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _bounded_int(digits: str) -> int:
    """No field is a number: a huge one is junk, and converting it costs quadratic time."""
    if len(digits) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number has more than {MAX_NUMBER_DIGITS} digits")
    return int(digits)


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, else 422 (the contract's "invalid input").

    The one place a body is parsed: malformed JSON, invalid UTF-8, nesting deeper than the
    parser's recursion limit and over-long numbers are all the client's error, never a 500.
    """
    raw = await request.body()
    try:
        body = json.loads(raw, parse_int=_bounded_int)
    except RecursionError:
        raise HTTPException(422, "request body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, _bounded_int
        raise HTTPException(422, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HTTPException(422, "request body must be a JSON object")
    return body


def text_field(body: Mapping[str, Any], name: str, max_length: int) -> str:
    """A string field PostgreSQL can store as text and UTF-8 can encode, else 422."""
    value = body.get(name)
    if not isinstance(value, str):
        raise HTTPException(422, f"{name!r} must be a string")
    if len(value) > max_length:
        raise HTTPException(422, f"{name!r} must be at most {max_length} characters")
    if "\x00" in value:
        raise HTTPException(422, f"{name!r} must not contain NUL characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise HTTPException(422, f"{name!r} must be valid Unicode (no lone surrogates)") from None
    return value


async def http_error(_: Request, exc: Exception) -> Response:
    """Every HTTP error (404, 405, 422, ...) as ``{"detail"}`` JSON, not Starlette's plain text."""
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for HTTPException
        raise exc
    return error_response(exc.status_code, str(exc.detail), exc.headers)


async def dependency_down(_: Request, exc: Exception) -> Response:
    """PostgreSQL or Redis unreachable: a 503 the caller may retry, not a 500."""
    log.warning("dependency unavailable: %s", describe(exc))
    return error_response(503, f"dependency unavailable: {describe(exc)}")


async def check(probe: Awaitable[None]) -> str:
    """``"ok"`` or the error text, within a deadline so a hung dependency reads as down."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await probe
    except (OSError, TimeoutError, psycopg.Error, RedisError) as exc:
        return describe(exc)
    return "ok"


def identity() -> dict[str, str]:
    """Who answers: the env and build it was deployed as, and the realstack instance that
    started it, so a check (``invoke staging.check``) can tell staging from production and one
    checkout's stack from another's."""
    return {
        "env": os.environ.get("APP_ENV", ""),
        "build": os.environ.get("APP_BUILD", ""),
        "instance": os.environ.get("REALSTACK_INSTANCE_ID", ""),
    }


async def health_response(checks: Mapping[str, Awaitable[None]]) -> JSONResponse:
    """All checks concurrently: 200 when every one is ok, else 503 ``degraded``; with the
    service's identity either way."""
    results = dict(zip(checks, await asyncio.gather(*map(check, checks.values())), strict=True))
    healthy = all(v == "ok" for v in results.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "checks": results, **identity()},
        status_code=200 if healthy else 503,
    )

"""The backend's tables and every query on them, so handlers and the agent stay SQL-free.

Rows go out as JSON-ready dicts: ids as the database has them (threads and messages are
bigserial numbers, runs are uuid strings), timestamps in ISO 8601.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

MAX_BIGINT = 2**63 - 1
SCHEMA_LOCK_KEY = 0x6261636B  # "back": serialises schema creation across instances
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS threads (
        id bigserial PRIMARY KEY,
        user_id text NOT NULL,
        title text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS messages (
        id bigserial PRIMARY KEY,
        thread_id bigint NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        user_id text NOT NULL,
        role text NOT NULL CHECK (role IN ('user', 'assistant')),
        content text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
    "CREATE INDEX IF NOT EXISTS messages_thread_id_idx ON messages (thread_id, id)",
    """CREATE TABLE IF NOT EXISTS runs (
        id uuid PRIMARY KEY,
        thread_id bigint NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        user_id text NOT NULL,
        status text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
        result jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz
    )""",
)
_INSERT_MESSAGE = (
    "INSERT INTO messages (thread_id, user_id, role, content) VALUES (%s, %s, %s, %s)"
    " RETURNING id, created_at"
)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def create_schema(pool: AsyncConnectionPool) -> None:
    """Idempotent; the advisory lock stops two instances racing on ``CREATE … IF NOT EXISTS``."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        for statement in SCHEMA:
            await conn.execute(statement)


def thread_id_of(value: object) -> int | None:
    """A thread id from a URL path or a frame (an int, or a string of ASCII digits); else None."""
    if isinstance(value, str):
        # str.isdigit() also admits "²" and other digits int() refuses; 19 digits hold a bigint.
        digits = value.isascii() and value.isdigit() and len(value) <= len(str(MAX_BIGINT))
        return int(value) if digits else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


async def owns_thread(pool: AsyncConnectionPool, user_id: str, thread_id: int) -> bool:
    """Unknown and foreign threads look the same to the caller: both are a 404."""
    if not 0 < thread_id <= MAX_BIGINT:
        return False
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT 1 FROM threads WHERE id = %s AND user_id = %s", (thread_id, user_id)
        )
        return await cur.fetchone() is not None


async def create_thread(pool: AsyncConnectionPool, user_id: str, title: str) -> dict[str, Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO threads (user_id, title) VALUES (%s, %s) RETURNING id, created_at",
            (user_id, title),
        )
        thread_id, created_at = _one(await cur.fetchone())
    return {"id": thread_id, "title": title, "created_at": _iso(created_at)}


async def add_message(
    pool: AsyncConnectionPool, user_id: str, thread_id: int, role: str, content: str
) -> dict[str, Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(_INSERT_MESSAGE, (thread_id, user_id, role, content))
        message_id, created_at = _one(await cur.fetchone())
    return _message(message_id, thread_id, role, content, created_at)


async def list_messages(pool: AsyncConnectionPool, thread_id: int) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, role, content, created_at FROM messages WHERE thread_id = %s ORDER BY id",
            (thread_id,),
        )
        rows = await cur.fetchall()
    return [_message(r[0], thread_id, r[1], r[2], r[3]) for r in rows]


async def get_run(
    pool: AsyncConnectionPool, user_id: str, run_id: uuid.UUID
) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT thread_id, status, result, created_at, completed_at FROM runs"
            " WHERE id = %s AND user_id = %s",
            (run_id, user_id),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    return {
        "id": str(run_id),
        "thread_id": row[0],
        "status": row[1],
        "result": row[2],
        "created_at": _iso(row[3]),
        "completed_at": _iso(row[4]),
    }


async def begin_run(
    pool: AsyncConnectionPool, run_id: uuid.UUID, user_id: str, thread_id: int, content: str
) -> None:
    """The user's message and the ``running`` row, together or not at all."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(_INSERT_MESSAGE, (thread_id, user_id, "user", content))
        await conn.execute(
            "INSERT INTO runs (id, thread_id, user_id, status) VALUES (%s, %s, %s, 'running')",
            (run_id, thread_id, user_id),
        )


async def complete_run(
    pool: AsyncConnectionPool,
    run_id: uuid.UUID,
    user_id: str,
    thread_id: int,
    result: Any,
    reply: str,
) -> None:
    """The result and the assistant's reply, together or not at all."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "UPDATE runs SET status = 'completed', result = %s, completed_at = now() WHERE id = %s",
            (Jsonb(result), run_id),
        )
        await conn.execute(_INSERT_MESSAGE, (thread_id, user_id, "assistant", reply))


async def fail_run(pool: AsyncConnectionPool, run_id: uuid.UUID) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE runs SET status = 'failed', completed_at = now()"
            " WHERE id = %s AND status = 'running'",
            (run_id,),
        )


def _message(
    message_id: int, thread_id: int, role: str, content: str, created_at: datetime
) -> dict[str, Any]:
    return {
        "id": message_id,
        "thread_id": thread_id,
        "role": role,
        "content": content,
        "created_at": _iso(created_at),
    }


def _one(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """``INSERT … RETURNING`` always yields a row; say so loudly if it ever does not."""
    if row is None:
        raise RuntimeError("INSERT … RETURNING produced no row")
    return row

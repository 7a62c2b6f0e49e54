"""The backend's agent run: one real tool (word_stats) and its events over Redis pub/sub.

Kept apart from the HTTP/WebSocket layer: a run outlives the connection that started it, and
its events reach every connection of the user (on any backend instance) through Redis.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import backend_store as store
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

log = logging.getLogger("uvicorn.error")

TOOL = "word_stats"
TOP_WORDS = 5
_WORD = re.compile(r"\w+")


def event_channel(user_id: str) -> str:
    """One channel per user: every connection of that user hears it, nobody else does."""
    return f"backend:events:{user_id}"


def word_stats(text: str) -> dict[str, Any]:
    """Counts over lower-cased ``\\w+`` runs; ties in ``top_words`` break alphabetically."""
    words = [w.lower() for w in _WORD.findall(text)]
    counts = Counter(words)
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_WORDS]
    return {
        "words": len(words),
        "unique_words": len(counts),
        "characters": len(text),
        "top_words": [[word, count] for word, count in top],
    }


def summarise(stats: dict[str, Any]) -> str:
    """The assistant's reply: the tool result in one sentence."""
    if not stats["words"]:
        return f"Your message has no words ({stats['characters']} characters)."
    top = ", ".join(f"{word} ({count})" for word, count in stats["top_words"])
    return (
        f"Your message has {stats['words']} words ({stats['unique_words']} unique) and "
        f"{stats['characters']} characters. Most frequent: {top}."
    )


@dataclass(frozen=True)
class Run:
    id: uuid.UUID
    user_id: str
    thread_id: int
    content: str

    def event(self, kind: str, **fields: Any) -> str:
        return json.dumps(
            {"type": kind, "run_id": str(self.id), "thread_id": self.thread_id, **fields}
        )


class AgentRunner:
    """Starts runs as background tasks and holds them, so none is garbage-collected mid-run."""

    def __init__(self, pool: AsyncConnectionPool, redis: Redis) -> None:
        self._pool = pool
        self._redis = redis
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, user_id: str, thread_id: int, content: str) -> uuid.UUID:
        run = Run(uuid.uuid4(), user_id, thread_id, content)
        task = asyncio.create_task(self._execute(run), name=f"run-{run.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run.id

    async def drain(self, timeout: float) -> None:
        """On shutdown: let in-flight runs finish (they take milliseconds), then cancel."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _publish(self, run: Run, kind: str, **fields: Any) -> None:
        await self._redis.publish(event_channel(run.user_id), run.event(kind, **fields))

    async def _execute(self, run: Run) -> None:
        inserted = False
        try:
            await store.begin_run(self._pool, run.id, run.user_id, run.thread_id, run.content)
            inserted = True
            await self._publish(run, "agent_started")
            await self._publish(run, "agent_thinking")
            await self._publish(run, "tool_executing", tool=TOOL)
            result = word_stats(run.content)
            await self._publish(run, "tool_completed", tool=TOOL, result=result)
            # The row is completed before agent_completed goes out, so a client that reacts to
            # the event by reading GET /api/runs/{id} always sees the final state.
            await store.complete_run(
                self._pool, run.id, run.user_id, run.thread_id, result, summarise(result)
            )
            await self._publish(run, "agent_completed", result=result)
        except Exception as exc:
            log.exception("run %s failed", run.id)
            await self._fail(run, exc, inserted=inserted)

    async def _fail(self, run: Run, exc: Exception, *, inserted: bool) -> None:
        """Best effort: mark the row failed and tell the user; the cause is already logged."""
        try:
            if inserted:
                await store.fail_run(self._pool, run.id)
            await self._publish(run, "error", detail=f"run failed: {type(exc).__name__}")
        except Exception:
            log.exception("could not record the failure of run %s", run.id)

"""One WebSocket connection: the user's Redis subscription out, client frames in.

The subscription is confirmed by Redis *before* the handshake is accepted, so a client that
sends a message the moment it is connected still receives every event of that run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from backend_agent import event_channel
from backend_http import InvalidInput, parse_object
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

log = logging.getLogger("uvicorn.error")

SUBSCRIBE_TIMEOUT = 2.0
TRY_AGAIN_LATER = 1013
INTERNAL_ERROR = 1011

FrameHandler = Callable[[Mapping[str, Any]], Awaitable[None]]


class FrameError(Exception):
    """A client frame we cannot act on: answered with an error frame, the connection stays."""


class CloseConnection(Exception):
    """Raised by a frame handler to end the connection with a close code (e.g. 1008)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


async def refuse(ws: WebSocket, code: int, reason: str) -> None:
    """Accept, then close with ``code``: a refused handshake would only show clients an HTTP 403."""
    await ws.accept()
    await ws.close(code, reason)


async def serve(ws: WebSocket, redis: Redis, user: str, on_frame: FrameHandler) -> None:
    """Subscribe to the user's channel, accept, then relay until either side ends."""
    pubsub = redis.pubsub()
    try:
        try:
            await _subscribe(pubsub, event_channel(user))
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("event bus unavailable: %s", exc)
            await refuse(ws, TRY_AGAIN_LATER, "event bus unavailable")
            return
        await ws.accept()
        await _Connection(ws, pubsub, on_frame).run()
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated in redis-py


async def _subscribe(pubsub: PubSub, channel: str) -> None:
    """SUBSCRIBE and wait for Redis's confirmation: only then is the channel really live."""
    await pubsub.subscribe(channel)
    async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is not None and message["type"] == "subscribe":
                return


class _Connection:
    """Two tasks per socket: events out (forwarder) and frames in (reader); either ends both."""

    def __init__(self, ws: WebSocket, pubsub: PubSub, on_frame: FrameHandler) -> None:
        self._ws = ws
        self._pubsub = pubsub
        self._on_frame = on_frame
        self._send_lock = asyncio.Lock()  # events and error replies come from two tasks

    async def run(self) -> None:
        reader = asyncio.create_task(self._read_frames(), name="ws-reader")
        forwarder = asyncio.create_task(self._forward_events(), name="ws-forwarder")
        try:
            await asyncio.wait({reader, forwarder}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            forwarder.cancel()
            outcomes = await asyncio.gather(reader, forwarder, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, CloseConnection):
                await self._close(outcome.code, outcome.reason)
            elif isinstance(outcome, RedisError | OSError):
                log.warning("event bus lost: %s", outcome)
                await self._close(TRY_AGAIN_LATER, "event bus unavailable")
            elif isinstance(outcome, Exception):
                log.error("websocket connection failed", exc_info=outcome)
                await self._close(INTERNAL_ERROR, "internal error")

    async def _read_frames(self) -> None:
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                await self._on_frame(_parse(message.get("text")))
            except (FrameError, InvalidInput) as exc:
                await self._send(json.dumps({"type": "error", "detail": str(exc)}))

    async def _forward_events(self) -> None:
        async for message in self._pubsub.listen():
            if message["type"] == "message":
                await self._send(message["data"])

    async def _send(self, text: str) -> None:
        async with self._send_lock:
            # If the client left, the reader sees the disconnect and ends the connection.
            with contextlib.suppress(WebSocketDisconnect):
                await self._ws.send_text(text)

    async def _close(self, code: int, reason: str) -> None:
        if self._ws.application_state == WebSocketState.CONNECTED:
            # The client may have closed first: then there is nothing left to tell it.
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self._ws.close(code, reason)


def _parse(text: str | None) -> Mapping[str, Any]:
    if text is None:
        raise FrameError("frames must be JSON text")
    return parse_object(text, "frame")

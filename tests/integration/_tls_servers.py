"""HTTPS servers standing in for a deployed stack, for ``test_staging_check``.

    python _tls_servers.py CONFIG.json

CONFIG lists servers (name, certificate file holding key and chain, behaviour) and a
``ready`` path. Every server binds 127.0.0.1 port 0 and is served by uvicorn in a thread of
this one process (one interpreter start for all of them); once all serve, ``ready`` gets
``{name: port}`` (written atomically). SIGTERM ends the process.

Each server is the reference services in miniature: ``GET /health`` (JSON with env, version;
the build in an ``X-Build`` header), ``GET /auth/verify`` and ``GET /api/runs/{id}`` needing
the bearer token, and ``/ws`` taking it in the ``Authorization`` header or ``?token=``,
closing with 1008 when it is wrong and answering every frame with an error frame, as
services/README.md says the backend does. Behaviours: ``health_status``, ``health_delay``,
``build``, ``ws_refuse`` (close before accepting: HTTP 403), ``silent`` (a bare TCP listener
that never answers, not even the TLS handshake), ``mute`` (completes the TLS handshake, then
never answers), ``slam`` (accepts the upgrade, closes with 1008 and hangs up at once, not
waiting for the client's close, as some servers and proxies do).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import sys
import threading
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.http11 import Request as WsRequest
from websockets.server import ServerProtocol

HOST = "127.0.0.1"


def _bearer(headers: Any) -> str | None:
    scheme, _, token = str(headers.get("authorization", "")).partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def build_app(spec: dict[str, Any]) -> Starlette:
    token = str(spec["token"])

    async def health(_: Request) -> Response:
        if spec.get("health_delay"):  # the fault under test (a slow service), not a wait
            await asyncio.sleep(float(spec["health_delay"]))
        status = int(spec.get("health_status", 200))
        body = {
            "status": "ok" if status == 200 else "degraded",
            "env": spec.get("env", "staging"),
            "version": spec.get("version", "1.4.2"),
        }
        return JSONResponse(body, status_code=status, headers={"X-Build": spec.get("build", "b42")})

    async def verify(request: Request) -> Response:
        if _bearer(request.headers) != token:
            return JSONResponse({"detail": "invalid token"}, status_code=401)
        return JSONResponse({"sub": "1", "email": "check@example.org"})

    async def run(request: Request) -> Response:
        if _bearer(request.headers) != token:
            return JSONResponse({"detail": "missing or invalid bearer token"}, status_code=401)
        return JSONResponse({"detail": "run not found"}, status_code=404)

    async def ws(websocket: WebSocket) -> None:
        if spec.get("ws_refuse"):
            await websocket.close()  # before accept: the upgrade is refused with HTTP 403
            return
        given = _bearer(websocket.headers) or websocket.query_params.get("token")
        await websocket.accept()
        if given != token:
            await websocket.close(1008, "missing or invalid token")
            return
        try:
            while True:
                await websocket.receive_text()
                reply = {"type": "error", "detail": "unsupported frame type"}
                await websocket.send_text(json.dumps(reply))
        except WebSocketDisconnect:
            return

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/auth/verify", verify),
            Route("/api/runs/{run_id}", run),
            WebSocketRoute("/ws", ws),
        ]
    )


class _Server(uvicorn.Server):
    """uvicorn's server, saying when it serves (an event to wait on, not a flag to poll)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


def _silent(sock: socket.socket) -> None:
    """Accept and hold every connection, never sending a byte."""
    held = []
    while True:
        conn, _ = sock.accept()
        held.append(conn)


def _mute(sock: socket.socket, cert: str) -> None:
    """Accept and complete each TLS handshake (session tickets included), then hold the
    connection without reading or sending a byte."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert)
    held = []
    while True:
        conn, _ = sock.accept()
        try:
            held.append(ctx.wrap_socket(conn, server_side=True))
        except OSError:  # the client gave up on the handshake (ssl.SSLError is an OSError)
            conn.close()


def _slam(sock: socket.socket, cert: str) -> None:
    """Each connection: TLS, the upgrade accepted, close 1008, hang up (websockets' sans-I/O
    server side, so nothing waits for the client's close)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert)
    while True:
        conn, _ = sock.accept()
        with contextlib.suppress(OSError), ctx.wrap_socket(conn, server_side=True) as tls:
            protocol = ServerProtocol()
            while not (events := protocol.events_received()) and (data := tls.recv(65536)):
                protocol.receive_data(data)
            if events and isinstance(events[0], WsRequest):
                protocol.send_response(protocol.accept(events[0]))
                protocol.send_close(1008, "missing or invalid token")
                for chunk in protocol.data_to_send():
                    tls.sendall(chunk)
        conn.close()


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    ports: dict[str, int] = {}
    servers: list[_Server] = []
    for spec in config["servers"]:
        sock = socket.create_server((HOST, 0))
        ports[spec["name"]] = int(sock.getsockname()[1])
        if spec.get("silent"):
            threading.Thread(target=_silent, args=(sock,), daemon=True).start()
            continue
        if spec.get("slam"):
            threading.Thread(target=_slam, args=(sock, spec["cert"]), daemon=True).start()
            continue
        if spec.get("mute"):
            threading.Thread(target=_mute, args=(sock, spec["cert"]), daemon=True).start()
            continue
        server = _Server(
            uvicorn.Config(
                build_app({**config, **spec}),
                ssl_certfile=spec["cert"],
                log_level="warning",
                ws="websockets-sansio",
                lifespan="off",
            )
        )
        servers.append(server)
        threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    for server in servers:
        if not server.ready.wait(timeout=30):
            raise SystemExit("a server did not start within 30 s")
    ready = Path(config["ready"])
    ready.with_suffix(".tmp").write_text(json.dumps(ports))
    ready.with_suffix(".tmp").replace(ready)
    threading.Event().wait()  # until SIGTERM (its default action ends the process)


if __name__ == "__main__":
    main(sys.argv[1])

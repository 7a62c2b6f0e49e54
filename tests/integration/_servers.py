"""Tiny TCP servers the integration tests run as ``kind = "process"`` services.

    python _servers.py silent PORT   # accepts connections and never sends a byte
    python _servers.py health PORT   # HTTP: GET /health -> 200 {"status": "ok", "instance": …}
    python _servers.py workers PORT  # the same, served by a forked worker (uvicorn --workers)
    python _servers.py unready PORT  # says why on stderr, then answers 503, logging each request
    python _servers.py pinned PORT   # HTTP /health: 200 while its one connection to
                                     # UPSTREAM_PORT lasts, then 503 (an app that never reconnects)

Standard library only: realstack starts them with the test interpreter and stops them with
SIGTERM, whose default action ends them.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"


def serve_silently(port: int) -> None:
    """Accept every connection and hold it open without reading or answering."""
    held: list[socket.socket] = []
    with socket.create_server((HOST, port)) as server:
        while True:
            conn, _ = server.accept()
            held.append(conn)


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        """200 with the realstack instance that started it (the identity handshake)."""
        found = self.path == "/health"
        instance = os.environ.get("REALSTACK_INSTANCE_ID", "")
        body = json.dumps({"status": "ok", "instance": instance}).encode() if found else b"{}"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve_health(port: int) -> None:
    """Answer ``GET /health`` with 200 until terminated."""
    with ThreadingHTTPServer((HOST, port), _Health) as server:
        server.serve_forever()


def serve_with_a_worker(port: int) -> None:
    """Bind here, serve ``GET /health`` in a forked worker, wait for it: killed, this parent
    leaves the worker listening on the port (an orphan bearing the service's marks)."""
    server = ThreadingHTTPServer((HOST, port), _Health)
    if os.fork() == 0:
        server.serve_forever()
    os.wait()


class _Unready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        """503, and an access-log line on stderr per request, as uvicorn writes them."""
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()


def serve_unready(port: int) -> None:
    print("startup: cache warm-up failed (no CACHE_URL); serving 503", file=sys.stderr)
    with ThreadingHTTPServer((HOST, port), _Unready) as server:
        server.serve_forever()


def serve_pinned(port: int) -> None:
    """Connect once to ``UPSTREAM_PORT``; ``GET /health`` answers 200 while that connection
    is open and 503 once the upstream closed it (restarted): no reconnect, ever."""
    upstream = socket.create_connection((HOST, int(os.environ["UPSTREAM_PORT"])))
    upstream.setblocking(False)

    class Pinned(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                alive = upstream.recv(1, socket.MSG_PEEK) != b""
            except BlockingIOError:  # open, nothing to read
                alive = True
            except OSError:
                alive = False
            self.send_response(200 if alive else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with ThreadingHTTPServer((HOST, port), Pinned) as server:
        server.serve_forever()


def main(argv: list[str]) -> None:
    mode, port = argv[1], int(argv[2])
    modes = {"silent": serve_silently, "health": serve_health, "workers": serve_with_a_worker}
    {**modes, "unready": serve_unready, "pinned": serve_pinned}[mode](port)


if __name__ == "__main__":
    main(sys.argv)

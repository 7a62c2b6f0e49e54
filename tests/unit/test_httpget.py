"""The HTTP probes' client against a real local HTTP server (standard library, one thread):
what it sends, what it reads, TLS verified against a throwaway CA, every way of no answer
named — and no client library loaded to do it."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from realstack import httpget
from realstack.model import Probe, Service
from realstack.probes import clickhouse_check, http_check


class _Echo(BaseHTTPRequestHandler):
    """Answers ``/status/<code>`` with that code; the body is what the request carried."""

    def do_GET(self) -> None:
        code = int(self.path.split("/status/")[1].split("?")[0]) if "/status/" in self.path else 200
        body = json.dumps({"path": self.path, "auth": self.headers.get("Authorization")}).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve(server: ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def port() -> Iterator[int]:
    yield from _serve(ThreadingHTTPServer(("127.0.0.1", 0), _Echo))


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_port(ca: trustme.CA) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_get_returns_the_status_and_body_for_the_path_and_query(port: int) -> None:
    code, body = httpget.get(f"http://127.0.0.1:{port}/status/503?a=1", 1.0, params={"q": "x y"})
    assert code == 503
    assert json.loads(body) == {"path": "/status/503?a=1&q=x+y", "auth": None}


def test_basic_auth_is_sent_as_the_header(port: int) -> None:
    _, body = httpget.get(f"http://127.0.0.1:{port}/", 1.0, auth=("user", "pa:ss"))
    expected = "Basic " + base64.b64encode(b"user:pa:ss").decode()
    assert json.loads(body)["auth"] == expected


def test_a_refused_connection_is_unanswered_and_named() -> None:
    with pytest.raises(httpget.Unanswered, match="ConnectionRefusedError"):
        httpget.get(f"http://127.0.0.1:{_closed_port()}/health", 1.0)


def test_a_silent_server_is_unanswered_within_the_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/health"
        with pytest.raises(httpget.Unanswered, match=r"TimeoutError|timed out"):
            httpget.get(url, 0.2)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http://127.0.0.1:notaport/", "nonsense"])
def test_a_url_that_names_no_http_server_is_unanswered(url: str) -> None:
    with pytest.raises(httpget.Unanswered):
        httpget.get(url, 1.0)


def test_https_is_verified_against_the_given_ca(tls_port: int, ca: trustme.CA) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    code, _ = httpget.get(f"https://localhost:{tls_port}/status/204", 1.0, context=context)
    assert code == 204


def test_https_from_an_unknown_ca_is_unanswered(tls_port: int) -> None:
    with pytest.raises(httpget.Unanswered, match="CERTIFICATE_VERIFY_FAILED"):
        httpget.get(f"https://localhost:{tls_port}/", 1.0, context=ssl.create_default_context())


def test_http_check_passes_on_the_wanted_status_and_says_what_it_got_otherwise(
    port: int,
) -> None:
    assert http_check(f"http://127.0.0.1:{port}/status/200", 200, 1.0)() is None
    url = f"http://127.0.0.1:{port}/status/503"
    assert http_check(url, 200, 1.0)() == f"HTTP 503 from {url} (want 200)"


def test_an_https_check_trusts_ssl_cert_file(
    tls_port: int, ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert http_check(f"https://localhost:{tls_port}/status/200", 200, 1.0)() is None


def test_an_unreadable_ssl_cert_file_is_the_checks_answer_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    error = http_check("https://localhost:1/health", 200, 1.0)()
    assert error is not None
    assert "SSL_CERT_FILE" in error


def test_clickhouse_check_wants_the_body_1_and_quotes_what_it_got(port: int) -> None:
    svc = Service(
        name="ch", kind="clickhouse", port=port, user="u", password="p", database="d",
        probe=Probe(kind="clickhouse"),
    )  # fmt: skip
    error = clickhouse_check(svc, 1.0)()
    assert error is not None
    assert error.startswith(f"HTTP 200 from http://127.0.0.1:{port}/: ")
    assert "query=SELECT+1&database=d" in error


def test_an_http_probe_loads_no_client_library(port: int) -> None:
    """A readiness poll, a status and the plugin's preflight pay for one GET, not for httpx."""
    code = (
        "import sys; from realstack.probes import http_check; "
        f"assert http_check('http://127.0.0.1:{port}/', 200, 1.0)() is None; "
        "print(sorted(m for m in ('httpx', 'requests', 'urllib3') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_server_that_answers_too_slowly_is_said_to_and_the_knob_named() -> None:
    """A health route slower than the attempt is not a dead server: the message says which
    setting decides (before: "TimeoutError: timed out", nothing more)."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/health"
        said = http_check(url, 200, 0.2)()
    assert said == "TimeoutError: timed out (no answer within the probe's attempt_timeout, 0.2s)"

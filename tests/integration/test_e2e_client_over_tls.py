"""The e2e suite's clients against HTTPS and ``wss://``, as ``nox -s staging`` uses them on a
deployed stack: real TLS servers (``_tls_servers.py``), trusted through ``SSL_CERT_FILE``.

They trust what ``invoke staging.check`` trusts, no more and no less: a staging the check
passes is one the suite reaches. The WebSocket client keeps each TLS connection on one thread:
a TLS socket read and written from two threads at once (websockets' sync client does that)
loses an upgrade or a frame now and then, which on a healthy staging reads as a failing test."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from e2e._support import POLICY_VIOLATION, http_client, open_ws, refusal_of
from integration._staging_support import TOKEN

pytestmark = pytest.mark.integration
pytest_plugins = ["integration._staging_fixtures"]  # the servers, the CA

CONNECTIONS = 8
ROUND_TRIPS = 25


@pytest.fixture(autouse=True)
def _trust_the_test_ca(ca_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_bundle))


def wss(tls_ports: dict[str, int], name: str) -> str:
    return f"wss://localhost:{tls_ports[name]}/ws"


def test_the_http_client_trusts_the_ca_the_check_is_told_to(tls_ports: dict[str, int]) -> None:
    with http_client(f"https://localhost:{tls_ports['backend']}") as client:
        assert client.get("/health").json()["status"] == "ok"


def test_a_server_the_check_would_not_trust_is_not_trusted_either(
    tls_ports: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    with (
        http_client(f"https://localhost:{tls_ports['backend']}") as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get("/health")
    how, why = refusal_of(wss(tls_ports, "backend"), TOKEN)
    assert (how, str(why).split(":")[0]) == ("refused", "SSLCertVerificationError"), why


def test_concurrent_connections_each_get_every_reply(tls_ports: dict[str, int]) -> None:
    """8 connections at once, 25 frames each, every one answered on its own connection:
    upgrades and frames interleave with the servers' TLS session tickets."""

    def one(_: int) -> int:
        with open_ws(wss(tls_ports, "backend"), TOKEN) as ws:
            for _ in range(ROUND_TRIPS):
                ws.ready()  # a frame out, its error reply back
            return ROUND_TRIPS

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        assert list(pool.map(one, range(CONNECTIONS))) == [ROUND_TRIPS] * CONNECTIONS


def test_the_token_as_query_parameter_is_served_too(tls_ports: dict[str, int]) -> None:
    with open_ws(wss(tls_ports, "backend"), TOKEN, via="query") as ws:
        ws.ready()


def test_refusals_read_the_same_over_tls(tls_ports: dict[str, int]) -> None:
    """A wrong token is closed with 1008, also when the server hangs up right after the
    close; a refused upgrade is its HTTP status."""
    assert refusal_of(wss(tls_ports, "backend"), "not-the-token") == ("closed", POLICY_VIOLATION)
    assert refusal_of(wss(tls_ports, "slam"), TOKEN) == ("closed", POLICY_VIOLATION)
    assert refusal_of(wss(tls_ports, "wsrefuse"), TOKEN) == ("refused", "HTTP 403 at the upgrade")

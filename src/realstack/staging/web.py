"""HTTP targets (services, ClickHouse): GET over httpx, timed by httpx's own trace events.

The request goes to the address :func:`~realstack.staging.net.resolve` found, with the URL's
host as ``Host`` and TLS server name, so the DNS time is measured once and the connect and
TLS times are the connection's own, not a second lookup's.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Mapping
from typing import Any

import httpx

from realstack.staging.net import Deadline, note_certificate, note_latency, resolve
from realstack.staging.targets import TOKEN_VAR, Settings, Target
from realstack.staging.verdict import ACCEPTED, NOT_CONFIGURED, REJECTED, Row

_PORTS = {"http": 80, "https": 443}
_STAGES = {
    "connection.connect_tcp.started": "connect",
    "connection.start_tls.started": "tls",
    "http11.send_request_headers.started": "request",
}
_IDENTITY = {
    "env": ("env", "environment"),
    "version": ("version",),
    "build": ("build", "commit"),
}


class _Trace:
    """httpx's ``trace`` extension: when each step of one request started and ended."""

    def __init__(self, row: Row | None = None) -> None:
        self.row = row  # whose stage to keep current; None for requests that are not timed
        self.at: dict[str, float] = {}
        self.peer: Mapping[str, Any] | None = None

    def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        self.at.setdefault(event, time.monotonic())
        if self.row is not None and event in _STAGES:
            self.row.stage = _STAGES[event]
        if event == "connection.start_tls.complete":
            # an ssl.SSLSocket or its C object (_ssl._SSLSocket): getpeercert() either way
            tls = info["return_value"].get_extra_info("ssl_object")
            self.peer = tls.getpeercert() if hasattr(tls, "getpeercert") else None

    def ms(self, start: str, end: str) -> float | None:
        if start in self.at and end in self.at:
            return (self.at[end] - self.at[start]) * 1000
        return None

    def fill(self, row: Row) -> None:
        row.connect_ms = self.ms(
            "connection.connect_tcp.started", "connection.connect_tcp.complete"
        )
        row.tls_ms = self.ms("connection.start_tls.started", "connection.start_tls.complete")
        row.first_byte_ms = self.ms(
            "http11.send_request_headers.started", "http11.receive_response_headers.complete"
        )


class _Site:
    """One target's origin, reached at the address resolved for it."""

    def __init__(self, client: httpx.Client, url: str, address: str, deadline: Deadline) -> None:
        self.client = client
        self.base = url.rstrip("/")
        self.parsed = httpx.URL(url)
        self.address = address
        self.deadline = deadline

    def get(self, path: str, trace: _Trace, **kwargs: Any) -> httpx.Response:
        url = httpx.URL(self.base + path).copy_with(host=self.address)
        headers = {"Host": self.parsed.netloc.decode("ascii"), **kwargs.pop("headers", {})}
        extensions = {"sni_hostname": self.parsed.host, "trace": trace}
        timeout = self.deadline.left()
        return self.client.get(
            url, headers=headers, timeout=timeout, extensions=extensions, **kwargs
        )


def check_http(target: Target, settings: Settings, ctx: ssl.SSLContext, deadline: Deadline) -> Row:
    """GET the probe path (ClickHouse: ``SELECT 1``); then status, certificate, identity,
    latency and, where the service has an endpoint for it, the token."""
    row = Row.of(target)
    row.expected_status = target.expect_status
    try:
        with httpx.Client(verify=ctx, trust_env=False, timeout=deadline.left()) as client:
            _check(row, client, target, settings, deadline)
    except Exception as exc:  # noqa: BLE001 - the one place this check's errors become a row
        row.absorb(exc, deadline.seconds)
    return row


def _check(
    row: Row, client: httpx.Client, target: Target, settings: Settings, deadline: Deadline
) -> None:
    parsed = httpx.URL(target.url)
    address = resolve(row, parsed.host, parsed.port or _PORTS.get(parsed.scheme, 80))
    site = _Site(client, target.url, address, deadline)
    trace = _Trace(row)
    if target.kind == "clickhouse":
        query = {"query": "SELECT 1"}
        response = site.get(target.path, trace, params=query, auth=target.login)
    else:
        response = site.get(target.path, trace)
    row.stage = "response"
    trace.fill(row)
    note_latency(row, settings.slow_ms)
    if trace.peer is not None:
        note_certificate(row, trace.peer, settings.cert_warn_days)
    row.status = response.status_code
    if row.status != target.expect_status:
        row.add("fail", f"HTTP {row.status} from {target.path} (expected {target.expect_status})")
    if target.kind == "clickhouse":
        answer = response.text.strip()
        row.check = f"SELECT 1 → {answer[:20]!r}"
        if row.status == 200 and answer != "1":
            row.add("fail", f"SELECT 1 answered {answer[:40]!r}")
        return
    row.check = f"GET {target.path} → {row.status}"
    _judge_identity(row, response, target.expect)
    if target.bearer_path:
        row.stage = "token check"
        _judge_token(row, site, target.bearer_path, settings.token)


def identity_of(response: httpx.Response) -> dict[str, str]:
    """env / version / build as the health JSON says them, else ``X-Env`` … headers."""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    found: dict[str, str] = {}
    for item, names in _IDENTITY.items():
        values = [body.get(n) for n in names] if isinstance(body, dict) else []
        values += [response.headers.get(f"x-{n}") for n in names]
        value = next((v for v in values if _scalar(v) and str(v)), None)
        if value is not None:
            found[item] = str(value)
    return found


def _scalar(value: object) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _judge_identity(row: Row, response: httpx.Response, expected: Mapping[str, str]) -> None:
    row.identity = identity_of(response)
    row.expected_identity = dict(expected)
    for item, want in expected.items():
        have = row.identity.get(item)
        if have is None:
            row.add("degraded", f"reports no {item} (expected {want})")
        elif have != want:
            row.add("fail", f"{item} is {have}, expected {want}")


def _judge_token(row: Row, site: _Site, path: str, token: str) -> None:
    if not token:
        row.token = NOT_CONFIGURED
        row.add("degraded", f"no {TOKEN_VAR} in the environment: token not checked")
        return
    answer = site.get(path, _Trace(), headers={"Authorization": f"Bearer {token}"})
    if answer.status_code in (401, 403):
        row.token = REJECTED
        row.add("fail", f"token rejected (HTTP {answer.status_code} from {path})")
    elif answer.status_code >= 500:
        row.add("fail", f"token check: HTTP {answer.status_code} from {path}")
    else:
        row.token = ACCEPTED

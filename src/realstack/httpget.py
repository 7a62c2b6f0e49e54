"""One HTTP GET, for a probe or an identity claim: the standard library's client.

A readiness poll, ``services.status`` and the test plugin's preflight each ask a service one
GET and read its status. httpx cost every such process ~90 ms to import and ~30 ms per request
to build a TLS context from certifi's bundle, plain ``http://`` included (a first
``httpx.get`` 145 ms, ``http.client`` 3 ms, measured on the reference stack). Proxies are not
consulted: a probe asks the service itself.
"""

from __future__ import annotations

import base64
import http.client
import ssl
from urllib.parse import urlencode, urlsplit


class Unanswered(Exception):
    """No HTTP answer: refused, timed out, TLS refused, not HTTP, or a URL that names none."""


def get(
    url: str,
    timeout: float,
    *,
    params: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, bytes]:
    """The status and body ``url`` answers with; ``context`` verifies an ``https`` URL (the
    default: the system's CAs)."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.netloc, timeout=timeout, context=context or ssl.create_default_context()
            )
        elif parts.scheme == "http":
            conn = http.client.HTTPConnection(parts.netloc, timeout=timeout)
        else:
            raise Unanswered(f"not an http(s) URL: {url}")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if params:
            target += ("&" if parts.query else "?") + urlencode(params)
        headers = {"Connection": "close"}
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        try:
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        text = str(exc).strip().splitlines()
        raise Unanswered(f"{type(exc).__name__}: {text[-1] if text else ''}".rstrip(": ")) from exc

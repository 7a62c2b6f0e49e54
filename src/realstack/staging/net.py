"""The pieces every check shares: a deadline, name resolution, TLS trust, the peer's
certificate."""

from __future__ import annotations

import math
import os
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from realstack.errors import ConfigError
from realstack.staging.verdict import Row

_DAY = 86400.0


@dataclass(frozen=True)
class Deadline:
    """One target's time budget: every step gets what is left of it."""

    seconds: float
    end: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def left(self) -> float:
        """Seconds left; at least a millisecond, so a step past the end times out at once."""
        return max(self.end - time.monotonic(), 0.001)


def trust() -> ssl.SSLContext:
    """Verifying TLS with the system's CAs, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set:
    what httpx and OpenSSL honour, so every check trusts the same roots."""
    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except (OSError, ssl.SSLError) as exc:
        name = "SSL_CERT_FILE" if cafile else "SSL_CERT_DIR"
        raise ConfigError(name, f"cannot load CA certificates: {exc}") from None


def resolve(row: Row, host: str, port: int) -> str:
    """The address a client would connect to first (``getaddrinfo``'s first answer), timed.

    The row's total time starts here: setting up a client is not the service's latency."""
    started = row.started = time.monotonic()
    row.stage = "dns"
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    row.dns_ms = (time.monotonic() - started) * 1000
    family, _, _, _, sockaddr = infos[0]
    row.address = str(sockaddr[0])
    row.family = "IPv6" if family == socket.AF_INET6 else "IPv4"
    return row.address


def note_certificate(row: Row, peer: Mapping[str, Any], warn_days: int) -> None:
    """Days left on the certificate the handshake verified (which also matched its host)."""
    not_after = ssl.cert_time_to_seconds(str(peer["notAfter"]))
    days = math.floor((not_after - time.time()) / _DAY)
    row.cert_days_left = days
    row.cert_not_after = datetime.fromtimestamp(not_after, UTC).isoformat(timespec="seconds")
    row.cert_host_match = True
    if days < warn_days:
        row.add(
            "degraded",
            f"certificate expires {row.cert_not_after} (in {days} days; "
            f"STAGING_CERT_WARN_DAYS={warn_days})",
        )


def note_latency(row: Row, slow_ms: float) -> None:
    row.total_ms = row.elapsed_ms()
    if row.total_ms > slow_ms:
        row.add("degraded", f"slow: {row.total_ms:.0f} ms (STAGING_SLOW_MS={slow_ms:g})")

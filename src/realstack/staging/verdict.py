"""Rows, findings and verdicts, and the one place an exception becomes a finding.

A row's verdict is its worst finding: ``fail`` (it answered wrongly, or not at all when it
should have: refused, 5xx, bad certificate, wrong identity, rejected token) over
``cannot-answer`` (nothing could be said: the name does not resolve, nothing came back in
time) over ``degraded`` (works, but slow, a certificate near its end, no token to check).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from realstack.staging.targets import Target, redact_url

Level = Literal["ok", "degraded", "fail", "cannot-answer"]
Verdict = Literal["ok", "degraded", "fail", "cannot-answer", "not offered"]
LEVELS: tuple[Level, ...] = ("ok", "degraded", "fail", "cannot-answer")
TokenState = Literal["accepted", "rejected", "not configured"]
ACCEPTED: TokenState = "accepted"
REJECTED: TokenState = "rejected"
NOT_CONFIGURED: TokenState = "not configured"
# Client libraries whose errors mean "the service answered wrongly or not at all".
_CLIENTS = {"httpx", "httpcore", "psycopg", "redis", "websockets"}
_MISMATCH = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_RANK: dict[Level, int] = {"ok": 0, "degraded": 1, "cannot-answer": 2, "fail": 3}
# Exit codes: every row ok or degraded → 0; any fail → 1; no fail but cannot-answer → 3.
EXIT_CODES: dict[Level, int] = {"ok": 0, "degraded": 0, "fail": 1, "cannot-answer": 3}


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str


@dataclass
class Row:
    """What one target's check saw; filled in by that check's thread alone."""

    target: str
    kind: str
    url: str  # redacted
    address: str | None = None
    family: str | None = None  # "IPv4" | "IPv6"
    dns_ms: float | None = None
    connect_ms: float | None = None
    tls_ms: float | None = None
    first_byte_ms: float | None = None
    total_ms: float | None = None
    expected_status: int | None = None
    status: int | None = None
    check: str = ""  # the protocol check and its answer
    cert_days_left: int | None = None
    cert_not_after: str | None = None
    cert_host_match: bool | None = None
    identity: dict[str, str] = field(default_factory=dict)
    expected_identity: dict[str, str] = field(default_factory=dict)
    token: TokenState | None = None  # None: nothing of this target checks the token
    findings: list[Finding] = field(default_factory=list)
    offered: bool = True
    stage: str = field(default="dns", repr=False)  # what it was doing, for error texts
    started: float = field(default_factory=time.monotonic, repr=False)

    @classmethod
    def of(cls, target: Target) -> Row:
        return cls(target.name, target.kind, redact_url(target.url), offered=bool(target.url))

    def add(self, level: Level, text: str) -> None:
        self.findings.append(Finding(level, text))

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    @property
    def verdict(self) -> Verdict:
        if not self.offered:
            return "not offered"
        worst: Level = max((f.level for f in self.findings), key=_RANK.__getitem__, default="ok")
        return worst

    @property
    def notes(self) -> list[str]:
        if not self.offered:
            return ["not offered by this env (no URL for it)"]
        return [f.text for f in self.findings]

    def as_json(self) -> dict[str, Any]:
        skip = {"findings", "stage", "started"}
        data = {k: v for k, v in vars(self).items() if k not in skip}
        return {**data, "verdict": self.verdict, "notes": self.notes}

    def absorb(self, exc: BaseException, timeout: float) -> None:
        """The check stopped on ``exc``: say what that means for the target."""
        for item in _chain(exc):
            if isinstance(item, ssl.SSLCertVerificationError) and item.verify_code in _MISMATCH:
                self.cert_host_match = False
        self.findings.append(classify(exc, self.stage, timeout))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it was raised from (httpx wraps httpcore wraps the socket error)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_timeout(exc: BaseException) -> bool:
    name = type(exc).__name__
    return isinstance(exc, TimeoutError) or name.endswith("Timeout") or name == "TimeoutError"


def describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def classify(exc: BaseException, stage: str, timeout: float) -> Finding:
    """The finding an exception stands for. DNS failures and timeouts say nothing about the
    service (``cannot-answer``); anything else it did, or failed to do, is a ``fail``."""
    chain = list(_chain(exc))
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            return Finding("fail", f"TLS: {item.verify_message or item.reason}")
    for item in chain:
        if isinstance(item, ssl.SSLError):
            return Finding("fail", f"TLS: {item.reason or describe(item)}")
        if isinstance(item, ConnectionRefusedError):
            return Finding("fail", f"{stage}: connection refused")
    if stage == "dns":
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else describe(exc)
        return Finding("cannot-answer", f"DNS: no address ({text})")
    if any(_is_timeout(item) for item in chain):
        return Finding("cannot-answer", f"{stage}: no answer within {timeout:g} s")
    if isinstance(exc, OSError | ValueError) or type(exc).__module__.split(".")[0] in _CLIENTS:
        return Finding("fail", f"{stage}: {describe(exc)}")
    return Finding("cannot-answer", f"{stage}: unexpected {describe(exc)}")


def overall(rows: Iterable[Row]) -> Level:
    """``fail`` if any row fails; else ``cannot-answer`` if any could not be answered; else
    ``degraded`` or ``ok``. Rows not offered do not count; nothing offered says nothing."""
    verdicts = [r.verdict for r in rows if r.offered]
    if not verdicts:
        return "cannot-answer"
    worst: tuple[Level, ...] = ("fail", "cannot-answer", "degraded")
    return next((level for level in worst if level in verdicts), "ok")

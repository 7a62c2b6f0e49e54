"""Verdicts: errors become findings in one place; rows and the env rank them; exit codes."""

from __future__ import annotations

import json
import socket
import ssl

import pytest

from realstack.staging.render import render_json, summary
from realstack.staging.run import Report
from realstack.staging.targets import Target
from realstack.staging.verdict import Level, Row, classify, overall


def row(name: str = "backend", *levels: Level) -> Row:
    made = Row.of(Target(name, "http", f"https://{name}.example.org"))
    for level in levels:
        made.add(level, f"{level} finding")
    return made


def refused() -> ConnectionRefusedError:
    """A real refusal: a connect to a port that was just closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError as exc:
        return exc
    raise AssertionError("nothing should listen there")


def wrapped(inner: BaseException) -> RuntimeError:
    """``inner`` as a client library hands it on (raised from it)."""
    exc = RuntimeError("client error")
    exc.__cause__ = inner
    return exc


def mismatch() -> ssl.SSLCertVerificationError:
    err = ssl.SSLCertVerificationError(1, "certificate verify failed")
    err.verify_code = 64
    err.verify_message = "IP address mismatch, certificate is not valid for '127.0.0.1'."
    return err


@pytest.mark.parametrize(
    ("exc", "stage", "level", "text"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "dns", "cannot-answer",
         "DNS: no address (Name or service not known)"),
        (TimeoutError("timed out"), "request", "cannot-answer", "request: no answer within 5 s"),
        (wrapped(TimeoutError()), "tls", "cannot-answer", "tls: no answer within 5 s"),
        (wrapped(mismatch()), "tls", "fail",
         "TLS: IP address mismatch, certificate is not valid for '127.0.0.1'."),
        (ConnectionResetError(104, "Connection reset by peer"), "request", "fail",
         "request: ConnectionResetError: [Errno 104] Connection reset by peer"),
        (KeyError("surprise"), "response", "cannot-answer", "response: unexpected KeyError"),
    ],
)  # fmt: skip
def test_an_error_is_a_finding(exc: BaseException, stage: str, level: str, text: str) -> None:
    finding = classify(exc, stage, 5.0)

    assert (finding.level, finding.text.split(": 'surprise'")[0]) == (level, text)


def test_a_refused_connection_fails_even_wrapped() -> None:
    assert classify(wrapped(refused()), "connect", 5.0).text == "connect: connection refused"


def test_a_host_mismatch_is_shown_in_the_certificate_column() -> None:
    made = row()

    made.absorb(wrapped(mismatch()), 5.0)

    assert (made.verdict, made.cert_host_match) == ("fail", False)


def test_a_row_is_its_worst_finding() -> None:
    assert row("a").verdict == "ok"
    assert row("a", "degraded", "cannot-answer").verdict == "cannot-answer"
    assert row("a", "fail", "cannot-answer", "degraded").verdict == "fail"
    assert Row.of(Target("redis", "redis")).verdict == "not offered"


@pytest.mark.parametrize(
    ("levels", "verdict", "code"),
    [
        ((), "ok", 0),
        (("degraded",), "degraded", 0),
        (("cannot-answer", "degraded"), "cannot-answer", 3),
        (("fail", "cannot-answer"), "fail", 1),
    ],
)
def test_the_env_verdict_and_exit_code(levels: tuple[Level, ...], verdict: str, code: int) -> None:
    rows = [row("ok"), Row.of(Target("redis", "redis"))]
    rows += [row(level, level) for level in levels]
    report = Report("staging", rows, 0.5)

    assert (report.verdict, report.exit_code) == (verdict, code)


def test_nothing_offered_cannot_be_answered() -> None:
    assert overall([Row.of(Target("redis", "redis"))]) == "cannot-answer"


def test_the_summary_line_counts_what_was_found() -> None:
    rows = [row("a"), row("b"), row("c"), row("d", "degraded"), row("e", "fail")]
    rows.append(Row.of(Target("redis", "redis")))

    assert summary(Report("staging", rows, 1.0)) == (
        "staging: 3 ok, 1 degraded, 1 fail, 1 not offered (exit 1)"
    )


def test_json_has_every_field_with_numbers_as_numbers() -> None:
    made = row("backend", "degraded")
    made.dns_ms, made.status, made.cert_days_left = 1.23456, 200, 30

    data = json.loads(render_json(Report("staging", [made], 0.25)))

    (target,) = data["targets"]
    assert (data["verdict"], data["exit_code"], data["counts"]) == ("degraded", 0, {"degraded": 1})
    assert (target["dns_ms"], target["status"], target["cert_days_left"]) == (1.2, 200, 30)
    assert target["notes"] == ["degraded finding"] and "findings" not in target

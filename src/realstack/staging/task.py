"""``invoke staging.check``: the deployed env's connectivity table, as a task."""

from __future__ import annotations

import sys

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from realstack.cli_support import friendly, load_for_task, parse_timeout, say
from realstack.errors import ConfigError


@task(
    name="check",
    help={
        "env": "deployed env to check: envs/<env>.env with REALSTACK_DEPLOYED=true "
        "(default: staging)",
        "json_": "machine-readable: every target's fields, the counts and the overall verdict",
        "timeout": "seconds each target may take (default 5); targets are checked at once",
    },
)
@friendly
def staging_check(
    c: Context, env: str = "staging", json_: bool = False, timeout: float | None = None
) -> None:
    """Check a deployed env: per target, DNS/connect/TLS/first-byte, status, cert, identity, token.

    One row per offered service and per WebSocket URL; services the env does not offer are
    listed as "not offered" and do not count. Verdicts: ok; degraded (slower than
    STAGING_SLOW_MS, certificate within STAGING_CERT_WARN_DAYS of its end, no
    STAGING_TEST_JWT_TOKEN to check); fail (refused, 5xx or unexpected status, bad
    certificate, identity other than STAGING_EXPECT_ENV/_VERSION/_BUILD, token rejected,
    WebSocket upgrade refused); cannot-answer (no DNS answer, no answer in time).
    Exit 0 when every target is ok or degraded, 1 when any fails, 3 when none fails but some
    cannot be answered, 2 for a configuration or usage error.
    """
    from realstack import staging  # noqa: PLC0415 - its clients load for this task only
    from realstack.staging.targets import DEFAULT_TIMEOUT  # noqa: PLC0415

    stack = load_for_task(env)
    seconds = parse_timeout(timeout)
    if seconds == 0:
        raise ConfigError("timeout", "expected seconds (more than 0), got 0")
    report = staging.check(stack, timeout=DEFAULT_TIMEOUT if seconds is None else seconds)
    if json_:
        print(say(staging.render_json(report)))
        print(say(staging.summary(report)), file=sys.stderr)
    else:
        for line in staging.render_table(report):
            print(say(line))
        print(say(staging.summary(report)))
    for row in report.rows:
        if row.verdict in ("fail", "cannot-answer"):
            print(say(f"✗ {row.target}: {'; '.join(row.notes)}"), file=sys.stderr)
    if report.exit_code:
        raise Exit(code=report.exit_code)


staging_tasks = Collection("staging", staging_check)

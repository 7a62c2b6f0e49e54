"""Invoke tasks: thin wrappers over the orchestrator with human output and exit codes.

Exit 0 on success, 1 when a service fails, 2 for a configuration or usage error. Errors are
printed as messages, never tracebacks: an unexpected exception is one line, its traceback kept
in the instance's ``logs/realstack.log`` (on stderr when no state directory is known yet).
Once the stack is loaded, everything printed passes through :func:`realstack.secrets.mask`
(``env.show`` alone prints secrets, on purpose).
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar, cast

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from realstack import envfile, orchestrator, runtime, salvage, scaffold
from realstack.errors import ConfigError, RealstackError
from realstack.manifest import load_stack
from realstack.model import PROVIDERS, Stack
from realstack.results import Action, Event, Report
from realstack.secrets import mask, named_secrets, secret_values
from realstack.service_parts import parse_profiles
from realstack.state import InstancePaths, keep_traceback
from realstack.status import ServiceStatus
from realstack.status import status as inspect_status

P = ParamSpec("P")
R = TypeVar("R")


# The stack the running task loaded: what its messages are masked with, where its
# unexpected tracebacks go. Set by :func:`_stack`, cleared by :func:`_friendly`.
_loaded: ContextVar[Stack | None] = ContextVar("realstack_task_stack", default=None)


def _secrets() -> frozenset[str]:
    """The loaded stack's secrets; before one is loaded, the secret-named environment."""
    stack = _loaded.get()
    if stack is not None:
        return secret_values(stack)
    return named_secrets(os.environ)


def _say(text: str) -> str:
    """``text`` as it may be printed: no secret in it."""
    return mask(text, _secrets())


def _unexpected(exc: Exception) -> str:
    """The one line for an exception realstack did not expect; its traceback goes to the
    instance's ``logs/realstack.log``, or to stderr when there is no usable state directory."""
    trace = _say("".join(traceback.format_exception(exc)))
    head = f"realstack: unexpected {type(exc).__name__}: {' '.join(str(exc).split())}"
    stack = _loaded.get()
    if stack is not None:
        try:
            log = keep_traceback(InstancePaths(stack.state_dir), trace)
        except OSError:
            pass
        else:
            return _say(f"{head} (traceback in {log})")
    print(trace, end="", file=sys.stderr)
    return _say(f"{head} (traceback above; please report it)")


def _friendly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn every error into one message and an exit code (invoke prints ``Exit`` messages):
    a realstack error's own code, 1 for anything unexpected."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _loaded.set(None)
        try:
            return fn(*args, **kwargs)
        except Exit:
            raise
        except RealstackError as exc:
            raise Exit(_say(f"realstack: {exc}"), code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("realstack: interrupted; what this run started was stopped", 130) from None
        except Exception as exc:  # noqa: BLE001 - the one place a task's surprise is caught
            raise Exit(_unexpected(exc), code=1) from None
        finally:
            _loaded.reset(token)

    return wrapper


def _only(only: str | None) -> list[str] | None:
    return [n.strip() for n in only.split(",") if n.strip()] if only else None


def _timeout(value: object) -> float | None:
    """``--timeout``: seconds, 0 or more (invoke passes the text as given)."""
    if value is None:
        return None
    try:
        seconds = float(cast(str, value))
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ConfigError("timeout", f"expected seconds (0 or more), got {value!r}")
    return seconds


class _Progress:
    """Progress lines while starting/stopping: service, event, detail, with elapsed time."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.t0 = time.monotonic()
        self.secrets = tuple(secrets)
        self._lock = threading.Lock()  # services start in threads: one whole line at a time

    def __call__(self, service: str, event: Event, detail: str) -> None:
        elapsed = time.monotonic() - self.t0
        line = f"  [{elapsed:6.2f}s] {service:<12} {event:<10} {detail}".rstrip()
        with self._lock:
            sys.stdout.write(mask(line, self.secrets) + "\n")
            sys.stdout.flush()


def _left_alone(stack: Stack, verb: str) -> None:
    """A deployed env: say so, name where its services are, touch nothing."""
    print(
        f"realstack [{stack.env}] is a deployed stack: realstack {verb} nothing there "
        f"(`invoke staging.check --env {stack.env}` checks it)"
    )
    for svc in stack.services:
        print(_say(f"  {svc.name:<12} {svc.external or 'not offered by this env'}"))


def _print_failures(report: Report) -> None:
    for error in report.errors:
        print(_say(f"\n✗ {error}"), file=sys.stderr)


def _stack(env: str | None, *, state: Literal["read", "write"] | None = None) -> Stack:
    """Load the manifest for ``env``; with ``state`` ("read" or "write"), check up front that
    the state directory can be used so (one message naming the path and the fix). A deployed
    env has no state of realstack's."""
    stack = load_stack(env=env)
    _loaded.set(stack)
    if state is not None and not stack.deployed:
        InstancePaths(stack.state_dir).check(stack.names, write=state == "write")
    return stack


@task(
    help={
        "wait": "wait until every service passes its readiness probe",
        "env": "env to start (envs/<env>.env; default: REALSTACK_ENV or the manifest's)",
        "only": "comma-separated services (their dependencies start too)",
        "timeout": "readiness timeout in seconds per service (default: the manifest's)",
        "provider": "auto, docker or native for postgres/redis (default: the manifest's)",
        "profile": "comma-separated profiles to enable too (e.g. analytics), besides "
        "REALSTACK_PROFILES",
    }
)
@_friendly
def start(
    c: Context,
    wait: bool = False,
    env: str | None = None,
    only: str | None = None,
    timeout: float | None = None,
    provider: str | None = None,
    profile: str | None = None,
) -> None:
    """Start what is missing, in dependency order; reuse what already runs."""
    stack = _stack(env, state="write")
    if stack.deployed:
        _left_alone(stack, "starts")
        return
    seconds = _timeout(timeout)
    profiles = parse_profiles(profile or "", "profile")
    active = replace(stack, profiles=stack.profiles | profiles)
    names = _only(only)
    orchestrator.check_names(stack, names)
    if provider is not None and provider not in PROVIDERS:
        raise ConfigError("provider", f"expected one of {', '.join(PROVIDERS)}; got {provider!r}")
    wanted = names or [s.name for s in stack.services if active.enabled(s)]
    print(f"realstack [{stack.env}] starting {', '.join(wanted)}")
    report = orchestrator.start(
        stack,
        only=names,
        wait=wait,
        timeout=seconds,
        progress=_Progress(_secrets()),
        provider=provider,
        profiles=profiles,
    )
    if not report.ok:
        _print_failures(report)
        raise Exit(code=max(e.exit_code for e in report.errors))
    started = sum(r.action in (Action.STARTED, Action.RESTARTED) for r in report.results)
    reused = sum(r.action == Action.REUSED for r in report.results)
    ran = sum(r.action == Action.COMPLETED for r in report.results)
    current = sum(r.action == Action.UP_TO_DATE for r in report.results)
    tasks = f", tasks: {ran} ran, {current} up to date" if ran or current else ""
    state = "healthy" if wait else "started"
    print(
        f"✓ {started} started, {reused} already running{tasks} ({state}) in "
        f"{report.seconds:.2f}s; env contract: {InstancePaths(stack.state_dir).runtime_env}"
    )


@task(
    help={
        "env": "env to stop",
        "only": "comma-separated services to stop (default: all)",
        "purge": "also delete the services' data directories",
    }
)
@_friendly
def stop(c: Context, env: str | None = None, only: str | None = None, purge: bool = False) -> None:
    """Stop exactly what realstack started (dependents first). Data stays unless --purge.

    With a manifest that cannot be loaded, it stops what the records prove ours instead."""
    try:
        stack = _stack(env, state="write")
    except ConfigError as broken:
        _stop_from_records(broken, env, only=only, purge=purge)
        return
    if stack.deployed and not purge:
        _left_alone(stack, "stops")
        return
    report = orchestrator.stop(stack, only=_only(only), purge=purge, progress=_Progress(_secrets()))
    if not report.ok:
        _print_failures(report)
        raise Exit(code=1)
    stopped = sum(r.action == Action.STOPPED for r in report.results)
    print(f"✓ {stopped} stopped in {report.seconds:.2f}s" + ("; data purged" if purge else ""))


def _stop_from_records(
    broken: ConfigError, env: str | None, *, only: str | None, purge: bool
) -> None:
    """``services.stop`` without a manifest: stop what this instance's records prove ours.

    Only the plain stop: ``--only`` names services the manifest would check and ``--purge``
    deletes data, neither of which is safe to guess. No state directory: the error stands.
    """
    if only or purge:
        flag = "--only" if only else "--purge"
        raise ConfigError(
            broken.path,
            f"{broken.message} (the manifest cannot be loaded, so {flag} cannot be used; "
            "`services.stop` alone stops from the records)",
        )
    instance = salvage.instance_without_manifest(env)
    if instance is None:
        raise broken
    _loaded.set(instance)  # masks the env's secrets; keeps tracebacks in its state dir
    print(_say(f"realstack: the manifest cannot be loaded: {broken}"), file=sys.stderr)
    print(f"realstack [{instance.env}] stopping from the records in {instance.state_dir}")
    report = salvage.stop_from_records(instance, progress=_Progress(_secrets()))
    if not report.ok:
        _print_failures(report)
        raise Exit(code=1)
    stopped = sum(r.action == Action.STOPPED for r in report.results)
    stale = sum(r.action == Action.STALE for r in report.results)
    print(
        f"✓ {stopped} stopped from the records in {report.seconds:.2f}s"
        + (f"; {stale} not ours, records kept" if stale else "")
        + "; fix the manifest before the next start"
    )


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _ident(row: ServiceStatus) -> str:
    """The PID column: a process's pid, a container's short id."""
    if row.pid is not None:
        return str(row.pid)
    return row.container[:12] if row.container else "-"


def _masked(row: ServiceStatus) -> ServiceStatus:
    """A status row without secrets in its free text (health, owner)."""
    return replace(
        row,
        health=_say(row.health),
        owner=_say(row.owner) if row.owner is not None else None,
    )


@task(help={"env": "env to inspect", "json_": "machine-readable output"})
@_friendly
def status(c: Context, env: str | None = None, json_: bool = False) -> None:
    """Show each service: provider, pid, port, state (ours/orphan/stale/foreign/down), health."""
    stack = _stack(env, state="read")
    rows = [_masked(r) for r in inspect_status(stack)]
    if json_:
        print(json.dumps({"env": stack.env, "services": [asdict(r) for r in rows]}, indent=2))
        return
    table = [("SERVICE", "PROVIDER", "STATE", "PID", "PORT", "UPTIME", "HEALTH")]
    for r in rows:
        health = r.health + (f" ({r.owner})" if r.owner else "")
        port = str(r.port) if r.kind != "task" else "-"
        state = r.state if r.kind != "task" or r.state != "down" else "task"
        table.append((r.name, r.provider, state, _ident(r), port, _uptime(r.uptime), health))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    print(f"realstack [{stack.env}] {stack.state_dir}")
    for row in table:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    for r in rows:
        if r.server:
            print(f"  {r.name}: {r.server}")


@task(
    help={
        "name": "service",
        "lines": "how many lines (default 50)",
        "follow": "keep printing",
        "env": "env",
    }
)
@_friendly
def logs(
    c: Context, name: str, lines: int = 50, follow: bool = False, env: str | None = None
) -> None:
    """Print the last lines of a service's log (stdout and stderr together; a container's
    own log for a service in docker)."""
    stack = _stack(env, state="read")
    orchestrator.check_names(stack, [name], "name")
    if int(lines) < 1:
        raise ConfigError("lines", f"expected a number of lines (1 or more), got {lines}")
    source = runtime.logs(stack, stack.service(name))
    if follow:
        source.follow(int(lines))
        return
    found = source.tail(int(lines))
    if not found:
        print(f"(nothing logged yet: {source.source})")
    secrets = _secrets()
    for line in found:
        print(mask(line, secrets))


@task(help={"name": "service to restart", "env": "env", "timeout": "readiness timeout"})
@_friendly
def restart(c: Context, name: str, env: str | None = None, timeout: float | None = None) -> None:
    """Stop one service and start it again, waiting until it is healthy."""
    stack = _stack(env, state="write")
    orchestrator.check_names(stack, [name], "name")
    report = orchestrator.restart(
        stack,
        name,
        timeout=_timeout(timeout),
        progress=_Progress(_secrets()),
    )
    if not report.ok:
        _print_failures(report)
        raise Exit(code=1)
    print(f"✓ {name} restarted in {report.seconds:.2f}s")


@task(name="show", help={"env": "env", "format": "dotenv (default), json or shell"})
@_friendly
def show(c: Context, env: str | None = None, format: str = "dotenv") -> None:
    """Print the env contract: where every service is (`eval "$(invoke env.show -f shell)"`)."""
    if format not in envfile.FORMATS:
        raise ConfigError("format", f"expected one of {', '.join(envfile.FORMATS)}; got {format!r}")
    stack = _stack(env)
    values = runtime.contract(stack)
    print(envfile.render(values, cast(Any, format)), end="")


@task(
    name="init",
    help={"force": "replace starter files that exist (never [tool.realstack] or noxfile.py)"},
)
@_friendly
def init_project(c: Context, force: bool = False) -> None:
    """Write a starter manifest, env files, tasks.py and nox sessions into this project."""
    root = Path.cwd()
    scaffold.report(root, scaffold.init(root, force=force), lambda line: print(_say(line)))


services = Collection("services", start, stop, status, logs, restart)
env_tasks = Collection("env", show)
namespace = Collection(services, env_tasks, init_project)


@task(
    name="check",
    help={
        "env": "deployed env to check: envs/<env>.env with REALSTACK_DEPLOYED=true "
        "(default: staging)",
        "json_": "machine-readable: every target's fields, the counts and the overall verdict",
        "timeout": "seconds each target may take (default 5); targets are checked at once",
    },
)
@_friendly
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

    stack = _stack(env)
    seconds = _timeout(timeout)
    if seconds == 0:
        raise ConfigError("timeout", "expected seconds (more than 0), got 0")
    report = staging.check(stack, timeout=DEFAULT_TIMEOUT if seconds is None else seconds)
    if json_:
        print(_say(staging.render_json(report)))
        print(_say(staging.summary(report)), file=sys.stderr)
    else:
        for line in staging.render_table(report):
            print(_say(line))
        print(_say(staging.summary(report)))
    for row in report.rows:
        if row.verdict in ("fail", "cannot-answer"):
            print(_say(f"✗ {row.target}: {'; '.join(row.notes)}"), file=sys.stderr)
    if report.exit_code:
        raise Exit(code=report.exit_code)


staging_tasks = Collection("staging", staging_check)
namespace.add_collection(staging_tasks)

"""Invoke tasks: thin wrappers over the orchestrator with human output and exit codes.

Exit 0 on success, 1 when a service fails, 2 for a configuration or usage error. Errors are
printed as messages, never tracebacks: an unexpected exception is one line, its traceback kept
in the instance's ``logs/realstack.log`` (on stderr when no state directory is known yet).
Once the stack is loaded, everything printed passes through :func:`realstack.secrets.mask`
(``env.show`` alone prints secrets, on purpose).
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from realstack.cli_support import (
    ProgressLines,
    current_secrets,
    friendly,
    left_alone,
    load_for_task,
    note_dependents,
    note_left_running,
    parse_only,
    parse_timeout,
    print_failures,
    say,
)
from realstack.env_task import env_tasks
from realstack.errors import ConfigError
from realstack.instances_task import list_instances, prune
from realstack.model import PROVIDERS
from realstack.results import Action
from realstack.secrets import mask
from realstack.service_parts import known_profiles, parse_profiles
from realstack.staging.task import staging_tasks
from realstack.state import InstancePaths

if TYPE_CHECKING:
    from realstack.model import Stack
    from realstack.status import ServiceStatus

# The engine (orchestrator, providers, status, env contract, scaffold, salvage) is imported
# inside the task that uses it: `invoke` imports this module for every command, and a warm
# start, `status` or `env.show` should load only what it runs (issue #15).


def inspect_status(stack: Stack) -> list[ServiceStatus]:
    """:func:`realstack.status.status`, loaded on first use (a name tests can replace)."""
    from realstack.status import status  # noqa: PLC0415

    return status(stack)


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
@friendly
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
    from realstack import orchestrator  # noqa: PLC0415

    if provider is not None and provider not in PROVIDERS:
        raise ConfigError("provider", f"expected one of {', '.join(PROVIDERS)}; got {provider!r}")
    stack = load_for_task(env, state="write", provider=provider)
    if stack.deployed:
        left_alone(stack, "starts")
        return
    seconds = parse_timeout(timeout)
    profiles = known_profiles(stack.services, parse_profiles(profile or "", "profile"))
    active = replace(stack, profiles=stack.profiles | profiles)
    names = parse_only(only)
    orchestrator.check_names(stack, names)
    wanted = names or [s.name for s in stack.services if active.enabled(s)]
    print(f"realstack [{stack.env}] starting {', '.join(wanted)}")
    report = orchestrator.start(
        stack,
        only=names,
        wait=wait,
        timeout=seconds,
        progress=ProgressLines(current_secrets()),
        provider=provider,
        profiles=profiles,
    )
    if not report.ok:
        print_failures(report)
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
@friendly
def stop(c: Context, env: str | None = None, only: str | None = None, purge: bool = False) -> None:
    """Stop exactly what realstack started (dependents first). Data stays unless --purge.

    With a manifest that cannot be loaded, it stops what the records prove ours instead."""
    from realstack import orchestrator  # noqa: PLC0415

    try:
        stack = load_for_task(env, state="write")
    except ConfigError as broken:
        from realstack.salvage_task import stop_without_manifest  # noqa: PLC0415

        stop_without_manifest(broken, env, only=only, purge=purge)
        return
    if stack.deployed and not purge:
        left_alone(stack, "stops")
        return
    report = orchestrator.stop(
        stack, only=parse_only(only), purge=purge, progress=ProgressLines(current_secrets())
    )
    if not report.ok:
        print_failures(report)
        raise Exit(code=1)
    if only is None:  # down on purpose now: no test's outage is why any more
        with contextlib.suppress(OSError):
            InstancePaths(stack.state_dir).tests_broken.unlink(missing_ok=True)
    stopped = [r.name for r in report.results if r.action == Action.STOPPED]
    print(f"✓ {len(stopped)} stopped in {report.seconds:.2f}s" + ("; data purged" if purge else ""))
    if only is not None and stopped:
        note_left_running(stack, stopped)


@task(
    help={
        "env": "env to inspect",
        "json_": "machine-readable output",
        "check": "exit 1 unless every service is ours and healthy, every task completed",
    }
)
@friendly
def status(c: Context, env: str | None = None, json_: bool = False, check: bool = False) -> None:
    """Show each service: provider, pid, port, state (ours/orphan/stale/foreign/down), health.

    With a manifest that cannot be loaded, what the records prove runs, and exit 2."""
    try:
        stack = load_for_task(env, state="read")
    except ConfigError as broken:
        from realstack.salvage_task import status_without_manifest  # noqa: PLC0415

        status_without_manifest(broken, env, json_)
        return
    from realstack import status_view  # noqa: PLC0415

    rows = [status_view.masked(r) for r in inspect_status(stack)]
    if json_:
        print(json.dumps({"env": stack.env, "services": [asdict(r) for r in rows]}, indent=2))
    else:
        print("\n".join(status_view.table(stack.env, stack.state_dir, rows)))
    bad = status_view.not_healthy(rows) if check else []
    if bad:
        print(f"✗ not ready: {'; '.join(bad)}", file=sys.stderr)
        raise Exit(code=1)


@task(
    help={
        "name": "service",
        "lines": "how many lines (default 50)",
        "follow": "keep printing",
        "env": "env",
    }
)
@friendly
def logs(
    c: Context, name: str, lines: str = "50", follow: bool = False, env: str | None = None
) -> None:
    """Print the last lines of a service's log (stdout and stderr; docker: the container's).

    A native service's log is its file under the state dir; a container's is the engine's."""
    from realstack import orchestrator, runtime  # noqa: PLC0415

    stack = load_for_task(env, state="read")
    orchestrator.check_names(stack, [name], "name")
    # a text flag, read here: an int flag's bad value was invoke's ValueError traceback
    count = int(lines) if str(lines).isdecimal() else 0
    if count < 1:
        raise ConfigError("lines", f"expected a number of lines (1 or more), got {lines!r}")
    svc = stack.service(name)
    source = runtime.logs(stack, svc)
    if follow:
        source.follow(count)
        return
    found = source.tail(count)
    if not found and not stack.enabled(svc):
        off = ", ".join(svc.profiles)
        print(f"(nothing logged: {name} is in profile {off}, which is not enabled)")
    elif not found:
        print(f"(nothing logged yet: {source.source})")
    secrets = current_secrets()
    for line in found:
        print(mask(line, secrets))


@task(help={"name": "service to restart", "env": "env", "timeout": "readiness timeout"})
@friendly
def restart(c: Context, name: str, env: str | None = None, timeout: float | None = None) -> None:
    """Stop one service and start it again; wait until it and its dependents are healthy.

    Tests running against the stack finish the test in flight first and wait meanwhile."""
    from realstack import orchestrator, restarting  # noqa: PLC0415

    stack = load_for_task(env, state="write")
    orchestrator.check_names(stack, [name], "name")
    done = restarting.restart(
        stack, name, timeout=parse_timeout(timeout), progress=ProgressLines(current_secrets())
    )
    if not done.report.ok:
        print_failures(done.report)
        raise Exit(code=1)
    after = (
        f" (after {done.waited:.2f}s waiting for the tests in flight)" if done.waited >= 0.1 else ""
    )
    verb = "restarted" if done.was_running else "started (it was not running)"
    print(f"✓ {name} {verb} in {done.report.seconds:.2f}s{after}")
    if done.dependent_down is not None:
        print(say(f"\n✗ {done.dependent_down}"), file=sys.stderr)
        raise Exit(code=1)
    note_dependents(stack, name)


@task(
    name="init",
    help={"force": "replace starter files that exist (never [tool.realstack] or noxfile.py)"},
)
@friendly
def init_project(c: Context, force: bool = False) -> None:
    """Write a starter manifest, env files, tasks.py and nox sessions into this project."""
    from realstack import scaffold  # noqa: PLC0415

    root = Path.cwd()
    scaffold.report(root, scaffold.init(root, force=force), lambda line: print(say(line)))


services = Collection("services", start, stop, status, logs, restart, list_instances, prune)
namespace = Collection(services, env_tasks, init_project, staging_tasks)

"""``services.stop`` when the manifest cannot be loaded: the records' word, proved per service."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from invoke.exceptions import Exit

from realstack import salvage
from realstack.cli_support import ProgressLines, current_secrets, loaded, print_failures, say
from realstack.errors import ConfigError
from realstack.results import Action


def stop_without_manifest(
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
    loaded.set(instance)  # masks the env's secrets; keeps tracebacks in its state dir
    print(say(f"realstack: the manifest cannot be loaded: {broken}"), file=sys.stderr)
    print(f"realstack [{instance.env}] stopping from the records in {instance.state_dir}")
    report = salvage.stop_from_records(instance, progress=ProgressLines(current_secrets()))
    if not report.ok:
        print_failures(report)
        raise Exit(code=1)
    stopped = sum(r.action == Action.STOPPED for r in report.results)
    stale = sum(r.action == Action.STALE for r in report.results)
    print(
        f"✓ {stopped} stopped from the records in {report.seconds:.2f}s"
        + (f"; {stale} not ours, records kept" if stale else "")
        + "; fix the manifest before the next start"
    )


def status_without_manifest(broken: ConfigError, env: str | None, json_: bool) -> None:
    """``services.status`` without a manifest: the error, then what this instance's records
    prove still runs (a typo does not hide a running stack). Exits 2 all the same: health,
    drift and the services never started are the manifest's to say."""
    from realstack.status_view import masked, table  # noqa: PLC0415

    instance = salvage.instance_without_manifest(env)
    if instance is None:
        raise broken
    loaded.set(instance)  # masks the env's secrets
    rows = [masked(r) for r in salvage.seen_from_records(instance)]
    if json_:
        listed = [asdict(r) for r in rows]
        print(json.dumps({"env": instance.env, "error": say(str(broken)), "services": listed}))
    else:
        print("\n".join(table(instance.env, instance.state_dir, rows)))
        running = [r.name for r in rows if r.state in ("ours", "orphan")]
        if running:
            stop = "`invoke services.stop` stops them from the records"
            print(f"{', '.join(running)} still run: {stop}")
    raise Exit(say(f"realstack: the manifest cannot be loaded: {broken}"), code=broken.exit_code)

"""Which tests need the real stack, which services they need, and whether those answer."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pytest

from realstack import probes
from realstack.model import Stack
from realstack.providers import Logs

LOG_LINES = 20


@functools.lru_cache(maxsize=1024)
def _under_suite_dir(where: str, suites: tuple[str, ...]) -> bool:
    return any(part in suites for part in where.split("/"))


def is_strict(item: pytest.Item, suites: Sequence[str], rootpath: Path) -> bool:
    """A test is strict if it lives under a suite directory or carries a suite marker.

    Its directory is read from the node id (relative to the rootdir; a string, cached per
    directory): this runs for every collected test of every run of the project.
    """
    where = item.nodeid.partition("::")[0].rpartition("/")[0]
    if where.startswith(".."):  # outside the rootdir: the absolute path says where
        where = item.path.parent.as_posix()
    if _under_suite_dir(where, tuple(suites)):
        return True
    return any(marker.name in suites for marker in item.iter_markers())


def required_services(item: pytest.Item, default: Sequence[str]) -> list[str]:
    """``@pytest.mark.requires(...)`` names (all of them, nearest first), else the default."""
    names: list[str] = []
    for marker in item.iter_markers("requires"):
        names.extend(str(a) for a in marker.args)
    return names or list(default)


def unhealthy(stack: Stack, names: Iterable[str]) -> dict[str, str]:
    """For each named service that does not pass its probe (a task: whose last run did not
    exit 0): the last error."""
    failures: dict[str, str] = {}
    for name in names:
        svc = stack.service(name)
        if svc.is_task:
            from realstack import oneshot  # noqa: PLC0415 - only stacks with tasks need it

            run = oneshot.last_run(stack, name)
            if run is None or not run.ok:
                how = "never ran" if run is None else f"last run exited {run.exit_code}"
                failures[name] = f"task has not completed ({how})"
            continue
        error = probes.check_for(svc)()
        if error is None and not stack.deployed:
            from realstack import identity  # noqa: PLC0415

            other = identity.other_instance(svc, stack.instance_id)
            if other is not None:
                error = f"answers for another {other}, not for this checkout"
        if error is not None:
            where = svc.external or f"port {svc.port}"
            failures[name] = f"probe {svc.probe.describe()} on {where}: {error}"
    return failures


def down_message(stack: Stack, failures: dict[str, str], logs: Callable[[str], Logs]) -> str:
    """The one message a strict session stops with: service, probe, error, log tail, fix."""
    lines = [f"realstack: required services of env {stack.env!r} are not healthy:"]
    for name, error in failures.items():
        lines.append(f"  ✗ {name}: {error}")
        svc = stack.service(name)
        if not stack.enabled(svc):
            lines.append(
                f"    ({name} is in profile {','.join(svc.profiles)}, which is not enabled: "
                f"start it with --profile {svc.profiles[0]} or --only {name})"
            )
        for line in logs(name).tail(LOG_LINES):
            lines.append(f"      | {line}")
    if stack.deployed:
        lines.append(
            f"env {stack.env!r} is a deployed stack: realstack starts nothing there; "
            f"`invoke staging.check --env {stack.env}` shows what answers and what does not."
        )
    else:
        lines.append(
            f"Start them with `invoke services.start --wait --env {stack.env}` (or run pytest "
            "with --realstack-start). Suites that need real services fail instead of skipping; "
            "--realstack-allow-skip is the explicit opt-out for skips, not for missing services."
        )
    return "\n".join(lines)

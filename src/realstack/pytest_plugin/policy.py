"""Which tests need the real stack, which services they need, and whether those answer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import pytest

from realstack import fanout, probes
from realstack.model import Service, Stack
from realstack.providers import Logs
from realstack.state import InstancePaths

if TYPE_CHECKING:
    from _pytest.nodes import Node

LOG_LINES = 20


class Strictness:
    """Which collected tests are strict, and what each needs.

    A test is strict if it lives under a suite directory or carries a suite marker; it needs
    the services its ``@pytest.mark.requires(...)`` markers name (all of them, nearest first),
    else the default. This is asked for every collected test of every run of the project, so
    what the items of one module share (their directory; their class's, module's and
    package's markers) is worked out once per parent node, and an item's own markers are
    read only when it has some.
    """

    def __init__(self, suites: Sequence[str], default: Sequence[str]) -> None:
        self.suites = tuple(suites)
        self.default = list(default)
        self._parents: dict[int, tuple[bool, list[str], bool]] = {}
        self._alive: list[Node] = []  # keeps the nodes whose id() keys the cache

    def of(self, item: pytest.Item) -> tuple[list[str], bool] | None:
        """``(services it needs, exempt from the I/O audit)`` for a strict test, else None."""
        parent = item.parent
        found = self._parents.get(id(parent))
        if found is None:
            found = self._parents[id(parent)] = self._shared(parent)
        strict, names, no_audit = found
        own = item.own_markers
        if own:
            strict = strict or any(marker.name in self.suites for marker in own)
            if strict:
                names = [str(a) for m in own if m.name == "requires" for a in m.args] + names
                no_audit = no_audit or any(m.name == "realstack_no_audit" for m in own)
        if not strict:
            return None
        return names or self.default, no_audit

    def _shared(self, node: Node | None) -> tuple[bool, list[str], bool]:
        if node is None:
            return False, [], False
        self._alive.append(node)
        where = node.nodeid.partition("::")[0].rpartition("/")[0]
        if where.startswith(".."):  # outside the rootdir: the absolute path says where
            where = node.path.parent.as_posix()
        strict = any(part in self.suites for part in where.split("/"))
        names: list[str] = []
        no_audit = False
        for marker in node.iter_markers():
            if marker.name in self.suites:
                strict = True
            elif marker.name == "requires":
                names.extend(str(a) for a in marker.args)
            elif marker.name == "realstack_no_audit":
                no_audit = True
        return strict, names, no_audit


def unhealthy(stack: Stack, names: Iterable[str]) -> dict[str, str]:
    """For each named service that does not pass its probe (a task: whose last run did not
    exit 0): the last error. The services are asked at once (every worker's preflight)."""
    services = [stack.service(name) for name in names]
    errors = fanout.each(lambda svc: _unhealthy(stack, svc), services, "preflight")
    return {svc.name: error for svc, error in zip(services, errors, strict=True) if error}


def _unhealthy(stack: Stack, svc: Service) -> str | None:
    if svc.is_task:
        from realstack import oneshot  # noqa: PLC0415 - only stacks with tasks need it

        run = oneshot.last_run(stack, svc.name)
        if run is None or not run.ok:
            how = "never ran" if run is None else f"last run exited {run.exit_code}"
            return f"task has not completed ({how})"
        return None
    error = probes.check_for(svc)()
    if error is None and not stack.deployed:
        from realstack import identity  # noqa: PLC0415

        other = identity.other_instance(svc, stack.instance_id)
        if other is not None:
            error = f"answers for another {other}, not for this checkout"
    if error is None:
        return None
    where = svc.external or f"port {svc.port}"
    return f"probe {svc.probe.describe()} on {where}: {error}"


def with_their_tasks(stack: Stack, requires: dict[str, list[str]]) -> None:
    """Each test's services and the tasks they stand on (a migration), in place: an app runs
    on what its tasks left, so a task whose last run failed is a stack not as a start leaves
    it (``services.status --check`` says so too), not one to test. A run went green on the
    old schema, against the old app, after its migration failed."""
    from realstack import graph  # noqa: PLC0415

    done: dict[tuple[str, ...], list[str]] = {}
    for nodeid, names in requires.items():
        key = tuple(names)
        if key not in done:
            deps = graph.with_dependencies(stack.services, names)
            tasks = [s.name for s in deps if s.is_task and stack.enabled(s) and s.name not in key]
            done[key] = [*names, *tasks]
        requires[nodeid] = done[key]


def down_message(stack: Stack, failures: dict[str, str], logs: Callable[[str], Logs]) -> str:
    """The one message a strict session stops with: service, probe, error, log tail, fix."""
    from realstack.pytest_plugin import broken  # noqa: PLC0415 - only on the way out

    lines = [
        f"realstack: required services of env {stack.env!r} are not healthy{broken.since(stack)}:"
    ]
    for name, error in failures.items():
        lines.append(f"  ✗ {name}: {error}")
        svc = stack.service(name)
        if not stack.enabled(svc):
            lines.append(
                f"    ({name} is in profile {','.join(svc.profiles)}, which is not enabled: "
                f"start it with --profile {svc.profiles[0]} or --only {name})"
            )
        if svc.is_task or stack.deployed or InstancePaths(stack.state_dir).record(name).exists():
            # a stopped service's log ends with its orderly shutdown: noise; a crashed one
            # (its record left) or a failed task says why here
            lines.extend(f"      | {line}" for line in logs(name).tail(LOG_LINES))
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

"""A start with nothing to do: answered without the instance lock, and nothing written.

A warm start — every service asked for already runs as ours, on its port, with the settings
the manifest gives it now, and answers its probe; every task asked for is current; the env
contract on disk and the machine's registry already say so — changes nothing. Taking the
instance lock for it cost a CLI start a lock library's import (~22 ms), and a start behind a
long one (an initdb) waited for it; claiming its leases under the machine's lock, and
rewriting the contract and the registry entry, unchanged, cost the rest. Anything
else (a service to start, a drift, a task due, a probe that does not pass at the first
attempt, a contract not current) and :func:`already_up` steps aside: the locked start
decides, as before, and may wait for a service still coming up.

Read-only: a stop or start of the same checkout at the same time is not harmed by it; its
answer is the one a start just before theirs would have given.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from realstack import fanout, oneshot, plan, registry, runtime
from realstack.launch_words import completed_before, who
from realstack.model import Service, Stack
from realstack.providers import Ours
from realstack.providers.placement import Placement
from realstack.results import Action, Event, Progress, Report, ServiceResult
from realstack.waiting import Clock


def already_up(
    stack: Stack,
    placement: Placement,
    only: Sequence[str] | None,
    profiles: Collection[str],
    progress: Progress,
    clock: Clock,
) -> Report | None:
    """The report of a start that has nothing to do, or ``None`` (then the locked start runs).

    Anything unexpected on the way is a ``None`` too: the locked start meets it again and
    reports it as it reports every failure."""
    t0 = clock.now()
    try:
        services = plan.to_start(stack, only, profiles)
        running = runtime.live(stack, placement)
        said: list[tuple[str, Event, str]] = []
        reused: list[tuple[Service, Ours]] = []
        for svc in services:
            provider = placement.for_start(svc)
            settings = plan.settings_of(stack, svc, provider.name)
            where = running.get(svc.name)
            if svc.is_task:
                done = None if where else oneshot.up_to_date(
                    stack, svc, oneshot.key_of(stack, svc, settings)
                )  # fmt: skip
                if done is None:
                    return None  # due, or an earlier run still going
                said.append((svc.name, Event.UP_TO_DATE, completed_before(done.seconds)))
                continue
            found = where.found if where is not None else None
            if not isinstance(found, Ours) or plan.drift(found.handle.record.settings, settings):
                return None
            said.append((svc.name, Event.REUSED, f"{who(found.handle)}, port {svc.port}"))
            reused.append((svc, found))
        if not _answering(placement, reused) or not runtime.written(stack, running):
            return None
        if not _registered(stack):
            return None
    except Exception:  # noqa: BLE001 - read-only: the locked start meets it and reports it
        return None
    for name, event, detail in said:
        progress(name, event, detail)
    seconds = clock.now() - t0
    results = []
    for svc in services:
        found = running[svc.name].found if svc.name in running else None
        if isinstance(found, Ours):
            pid = getattr(found.handle.record, "pid", None)
            results.append(ServiceResult(svc.name, Action.REUSED, pid, svc.port, seconds))
        else:
            results.append(ServiceResult(svc.name, Action.UP_TO_DATE))
    return Report(tuple(results), seconds)


def _registered(stack: Stack) -> bool:
    """Whether the machine's registry already has this instance where it is, holding the
    ports it runs on (its leases included): then a lease claimed now would be the same, and
    other checkouts' starts already keep off these ports."""
    entry = registry.entry(stack.instance_id)
    if entry is None or (entry.root, entry.state_dir) != (str(stack.root), str(stack.state_dir)):
        return False
    held = {s.name: s.port for s in stack.services if s.port}
    leased = {name: lease.get("port") for name, lease in entry.lease.items()}
    return entry.ports == held and all(held.get(name) == port for name, port in leased.items())


def _answering(placement: Placement, reused: list[tuple[Service, Ours]]) -> bool:
    """Whether every one of them runs and passes its probe at the first attempt (at once:
    a probe waits on another process)."""

    def ok(item: tuple[Service, Ours]) -> bool:
        svc, found = item
        handle = found.handle
        probe = placement.for_start(svc).probe(svc)
        return handle.exited() is None and handle.not_ready() is None and probe() is None

    return all(fanout.each(ok, reused, "warm"))

"""Before anything starts: every port the start needs that someone else holds.

A conflict on the third service must not cost starting (and rolling back) the first two, nor
stopping a running service for a port it cannot have. What is found here is kept in the
launch's ``located`` for ``ensure_running`` to use once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from realstack import identity, leases
from realstack.errors import PortInUse, RealstackError
from realstack.providers import Orphan, Ours
from realstack.runtime import locate

if TYPE_CHECKING:
    from realstack._launch import Launch


def ports_taken(run: Launch) -> dict[str, RealstackError]:
    """Each service of the start whose port another process holds, with the error it gets."""
    taken: dict[str, RealstackError] = {}
    for svc in run.plan.services:
        if svc.is_task:
            continue
        where = locate(run.placement, run.records, svc)
        with run.lock:
            run.located[svc.name] = where
        found = where.found
        if isinstance(found, Orphan):
            continue
        if isinstance(found, Ours) and found.handle.record.port == svc.port:
            continue  # ours on this very port: reused or restarted in place
        # a new service, or ours moving to another port: that port must be free before
        # anything is stopped (a drifted service is never stopped for a port it cannot have)
        occupant = run.plan.providers[svc.name].occupant(svc)
        if occupant is not None:
            other = identity.other_instance(svc, run.plan.stack.instance_id)
            who = f"{occupant} — {other}" if other and occupant else other or occupant
            setting = leases.port_setting(run.plan.stack, svc)
            taken[svc.name] = PortInUse(svc.name, svc.port, who or None, setting)
    return taken

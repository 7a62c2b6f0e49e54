"""Which realstack instance answers on a port: the identity handshake.

Each kind proves whose it is in its own way, without writing into the user's data:

- an app process gets ``REALSTACK_INSTANCE_ID`` in its environment (the env contract); one
  that echoes it in its health JSON (``{"instance": "…"}``, as the reference services do);
- PostgreSQL started by the native provider carries the custom setting
  ``realstack.instance`` (``SHOW realstack.instance``);
- Redis started by the native provider keeps its data under the instance's state directory,
  which ``CONFIG GET dir`` shows and the machine's registry maps to the instance.

A start that finds its port taken, and a test run whose service answers, name the other
instance's checkout instead of testing — or refusing — a stranger blindly. A service that
proves nothing (an app that does not echo, a container, a server started by hand) is simply
not judged by it.
"""

from __future__ import annotations

from pathlib import Path

from realstack import probes, registry
from realstack.model import Service

SETTING = "realstack.instance"  # the PostgreSQL custom setting naming the instance


def claimed_by(svc: Service, timeout: float = 1.0) -> str | None:
    """The instance id ``svc`` proves it belongs to, if it proves one."""
    if svc.external or not svc.port:
        return None
    if svc.probe.kind == "http":
        return _http_claim(svc, timeout)
    if svc.kind == "postgres":
        return _postgres_claim(svc, timeout)
    if svc.kind == "redis":
        return _redis_claim(svc, timeout)
    return None


def _http_claim(svc: Service, timeout: float) -> str | None:
    import json  # noqa: PLC0415

    from realstack import httpget  # noqa: PLC0415 - only stacks with HTTP services ask

    url = f"http://{svc.url_host}:{svc.port}{svc.probe.path}"
    try:
        body = json.loads(httpget.get(url, timeout)[1])
    except (httpget.Unanswered, ValueError):  # no answer, no JSON: no claim
        return None
    instance = body.get("instance") if isinstance(body, dict) else None
    return instance if isinstance(instance, str) and instance else None


def _postgres_claim(svc: Service, timeout: float) -> str | None:
    from realstack import pgwire  # noqa: PLC0415 - the probe's client: no psycopg import

    sql = f"SELECT current_setting('{SETTING}', true)"
    try:
        value = pgwire.query_value(
            svc.host, svc.port, svc.user, svc.password, svc.database, timeout, sql
        )
    except (pgwire.Refused, OSError):  # no answer, or not our credentials: no claim
        return None
    return value or None


def _redis_claim(svc: Service, timeout: float) -> str | None:
    reply = probes.redis_exchange(svc.host, svc.port, timeout, svc.password, "CONFIG", "GET", "dir")
    if isinstance(reply, str) or len(reply) < 5 or reply[0] != b"*2":
        return None  # no answer, CONFIG refused or renamed: no claim
    where = Path(reply[4].decode(errors="replace"))
    for entry in registry.entries():
        if where.is_relative_to(entry.state_dir):
            return entry.instance_id
    return None


def describe(instance_id: str) -> str:
    """Another instance, as a user finds it: its checkout and env."""
    entry = registry.entry(instance_id)
    if entry is None:
        return f"realstack instance {instance_id} (not in this machine's registry)"
    gone = "" if entry.checkout_exists else ", checkout gone: `invoke services.prune`"
    return f"realstack instance of {entry.root} (env {entry.env}{gone})"


def other_instance(svc: Service, mine: str) -> str | None:
    """A sentence naming the other instance that answers for ``svc``, if one does."""
    claimed = claimed_by(svc)
    if claimed is None or claimed == mine:
        return None
    return describe(claimed)

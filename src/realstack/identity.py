"""Which realstack instance answers on a port: the identity handshake.

An app process gets ``REALSTACK_INSTANCE_ID`` in its environment (the env contract); one that
echoes it in its health JSON (``{"instance": "…"}``, as the reference services do) proves
whose it is. A start that finds its port taken, and a test run whose service answers, name
the other instance's checkout instead of testing — or refusing — a stranger blindly. Apps
that do not echo it are simply not judged by it.
"""

from __future__ import annotations

from realstack import registry
from realstack.model import Service


def claimed_by(svc: Service, timeout: float = 1.0) -> str | None:
    """The instance id ``svc``'s health endpoint names, if it names one."""
    if svc.probe.kind != "http" or svc.external or not svc.port:
        return None
    import httpx  # noqa: PLC0415 - only stacks with HTTP services ask

    url = f"http://{svc.url_host}:{svc.port}{svc.probe.path}"
    try:
        body = httpx.get(url, timeout=timeout, trust_env=False).json()
    except (httpx.HTTPError, httpx.InvalidURL, ValueError):  # no answer, no JSON: no claim
        return None
    instance = body.get("instance") if isinstance(body, dict) else None
    return instance if isinstance(instance, str) and instance else None


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

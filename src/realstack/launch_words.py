"""What a start says of a service beyond "ready": who it is (pid or container), a task whose
last run is still current, a process that listens elsewhere than its port, the log tail of
one that never became ready. Shared by the
full start (:mod:`realstack._launch`) and the warm path (:mod:`realstack.warm`), which must
say the same without loading the launch machinery.
"""

from __future__ import annotations

from realstack.model import Service
from realstack.providers import Handle

LOG_TAIL = 20  # lines of a service's own log in a failure


def elsewhere(svc: Service, handle: Handle) -> str:
    """A hint when its processes listen, but not on the manifest's port."""
    addresses = handle.listening()
    if not addresses or any(port == svc.port for _, port in addresses):
        return ""
    where = ", ".join(f"{host}:{port}" for host, port in addresses)
    return (
        f"its process listens on {where}, not on port {svc.port}: pass the manifest's port "
        "to the command ({port}) or set the service's port to where it listens"
    )


def completed_before(seconds: float) -> str:
    """What a start says of a task it does not run: its last run is current."""
    return f"completed before ({seconds:.2f}s), nothing changed"


def who(handle: Handle) -> str:
    record = handle.record
    pid = getattr(record, "pid", None)
    return (
        f"pid {pid}" if pid is not None else f"container {getattr(record, 'container_id', '')[:12]}"
    )


_PROBE_LINES = 400  # how far back a failure's tail looks past the probe's own requests


def tail_of(svc: Service, handle: Handle, lines: int, since: float | None) -> list[str]:
    """The last ``lines`` of what ``svc`` printed since ``since``, without the access-log lines
    of its own http probe (``"GET /health" 503`` every poll): they filled the tail, and the
    app's own startup lines, which say why it is not ready, were pushed out."""
    if svc.probe.kind != "http":
        return handle.logs.tail(lines, since=since)
    request = f"GET {svc.probe.path} "
    found = handle.logs.tail(_PROBE_LINES, since=since)
    kept = [line for line in found if request not in line]
    left_out = len(found) - len(kept)
    note = [f"({left_out} lines of the probe's own GET {svc.probe.path} left out)"]
    return kept[-lines:] + (note if left_out else [])

"""realstack: a real multi-service stack for development and end-to-end tests.

Python API (usable from a conftest)::

    import realstack
    report = realstack.start(env="test", only=["postgres"], timeout=30)
    ...
    realstack.stop(env="test")

The engine (orchestrator, providers, status) loads on first use, so importing realstack — as
its pytest plugin does in every run — costs little.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from realstack.errors import (
    ConfigError,
    CycleError,
    LockTimeout,
    PortInUse,
    ProbeTimeout,
    ProviderError,
    ProviderFailed,
    ProviderUnavailable,
    RealstackError,
    ServiceError,
    ServiceExited,
    StopFailed,
)

if TYPE_CHECKING:
    from realstack.envfile import contract
    from realstack.manifest import load_stack
    from realstack.model import Service, Stack
    from realstack.results import Report, ServiceResult
    from realstack.status import ServiceStatus

__all__ = [
    "ConfigError",
    "CycleError",
    "LockTimeout",
    "PortInUse",
    "ProbeTimeout",
    "ProviderError",
    "ProviderFailed",
    "ProviderUnavailable",
    "RealstackError",
    "Report",
    "Service",
    "ServiceError",
    "ServiceExited",
    "ServiceResult",
    "ServiceStatus",
    "Stack",
    "StopFailed",
    "__version__",
    "contract",
    "load_stack",
    "logs",
    "start",
    "status",
    "stop",
]

_LAZY = {
    "contract": "realstack.envfile",
    "load_stack": "realstack.manifest",
    "Service": "realstack.model",
    "Stack": "realstack.model",
    "Report": "realstack.results",
    "ServiceResult": "realstack.results",
    "ServiceStatus": "realstack.status",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read from the installed metadata on demand (stamina's way)
        try:
            return version("realstack")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0+unknown"
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'realstack' has no attribute {name!r}")


def start(
    env: str | None = None,
    only: Sequence[str] | None = None,
    timeout: float | None = None,
    root: Path | None = None,
) -> Report:
    """Start what is missing and wait until healthy; raise the first error after rollback."""
    from realstack import orchestrator  # noqa: PLC0415
    from realstack.manifest import load_stack  # noqa: PLC0415

    report = orchestrator.start(load_stack(root, env), only=only, timeout=timeout)
    report.raise_for_errors()
    return report


def stop(
    env: str | None = None,
    only: Sequence[str] | None = None,
    purge: bool = False,
    root: Path | None = None,
) -> Report:
    """Stop exactly what realstack started; keep data unless ``purge``."""
    from realstack import orchestrator  # noqa: PLC0415
    from realstack.manifest import load_stack  # noqa: PLC0415

    report = orchestrator.stop(load_stack(root, env), only=only, purge=purge)
    report.raise_for_errors()
    return report


def status(env: str | None = None, root: Path | None = None) -> list[ServiceStatus]:
    """One row per service: state (ours/orphan/stale/foreign/down), pid, port, health."""
    from realstack.manifest import load_stack  # noqa: PLC0415
    from realstack.status import status as inspect_status  # noqa: PLC0415

    return inspect_status(load_stack(root, env))


def logs(name: str, lines: int = 50, env: str | None = None, root: Path | None = None) -> list[str]:
    """The last lines ``name`` printed, wherever it runs (log file or container log)."""
    from realstack import orchestrator, runtime  # noqa: PLC0415
    from realstack.manifest import load_stack  # noqa: PLC0415

    stack = load_stack(root, env)
    orchestrator.check_names(stack, [name], "name")
    return runtime.logs(stack, stack.service(name)).tail(lines)

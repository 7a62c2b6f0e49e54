"""What start and stop return: one result per service, as values (errors included)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from realstack.errors import RealstackError

Reporter = Callable[[str, str, str], None]  # (service, event, detail) for progress output
Action = Literal[
    "started", "reused", "failed", "cancelled", "rolled-back", "stopped", "not-running", "stale"
]


@dataclass(frozen=True)
class ServiceResult:
    name: str
    action: Action
    pid: int | None = None
    port: int | None = None
    seconds: float = 0.0  # spawn → ready (start) or signal → gone (stop)
    error: RealstackError | None = None


@dataclass(frozen=True)
class Report:
    results: tuple[ServiceResult, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(r.error is None for r in self.results)

    @property
    def errors(self) -> list[RealstackError]:
        return [r.error for r in self.results if r.error is not None]

    def raise_for_errors(self) -> None:
        if self.errors:
            raise self.errors[0]

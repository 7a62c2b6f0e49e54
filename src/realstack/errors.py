"""The one exception tree. Every error a user can cause or meet is one of these.

    RealstackError                 exit_code 1 unless stated
    ├── ConfigError(path)          exit 2: the manifest, an env file or a CLI argument is wrong
    │   ├── CycleError(cycle)      exit 2: depends_on loops; carries the loop
    │   └── MissingVariable(name)  exit 2: a ${NAME} without a value or a default
    ├── ServiceError(service)      a service could not be brought up
    │   ├── ProbeTimeout           never became ready: probe, last error, elapsed, log tail
    │   ├── ServiceExited          died while starting: exit code, log tail
    │   ├── TaskFailed             a one-shot task exited non-zero or ran out of time
    │   └── PortInUse              a process that is not ours answers on the port
    ├── ProviderError(provider, service)
    │   ├── ProviderUnavailable    cannot work here; said before anything starts (no engine …)
    │   └── ProviderFailed         failed at runtime (compose exited, a container vanished …)
    │       └── StopFailed(pids)   processes survived SIGKILL, or a container would not go
    ├── LockTimeout                another realstack run held the state lock too long
    └── NothingRuns                no service of the env runs: there is no contract to give

Messages are complete sentences for humans; the attributes are for code.
"""

from __future__ import annotations

from collections.abc import Sequence


class RealstackError(Exception):
    """Base of all realstack errors."""

    exit_code = 1


class ConfigError(RealstackError):
    """Invalid configuration; ``path`` names the offending field."""

    exit_code = 2

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class MissingVariable(ConfigError):
    """A ``${NAME}`` with no value and no default. Raised where the value is read, which does
    not know the env; the manifest's loader says which env file it read (:meth:`located`)."""

    def __init__(
        self,
        path: str,
        name: str,
        *,
        empty: bool = False,
        where: str = "envs/<env>.env or the environment",
        hint: str = "",
    ) -> None:
        self.name, self.empty = name, empty
        state = "is empty" if empty else "is not set"
        super().__init__(path, f"variable {name} {state} ({where}){hint}")

    def located(self, where: str, hint: str = "") -> MissingVariable:
        """The same error, saying where the value was looked for (and a near miss)."""
        return MissingVariable(self.path, self.name, empty=self.empty, where=where, hint=hint)


class CycleError(ConfigError):
    """``depends_on`` forms a cycle; ``cycle`` lists it, first node repeated at the end."""

    def __init__(self, path: str, cycle: Sequence[str]) -> None:
        self.cycle = tuple(cycle)
        super().__init__(path, "dependency cycle: " + " -> ".join(self.cycle))


def _tail_block(log_tail: Sequence[str], log_path: str | None) -> str:
    if not log_tail:
        return f"\n  (log {log_path or ''} is empty)" if log_path else ""
    count = "the last log line" if len(log_tail) == 1 else f"last {len(log_tail)} log lines"
    header = f"\n  {count}" + (f" ({log_path})" if log_path else "") + ":"
    return header + "".join(f"\n    | {line}" for line in log_tail)


class ServiceError(RealstackError):
    """A named service failed to come up."""

    def __init__(self, service: str, message: str) -> None:
        self.service = service
        super().__init__(message)


class ProbeTimeout(ServiceError):
    """The readiness probe never passed before the deadline."""

    def __init__(
        self,
        service: str,
        probe: str,
        last_error: str,
        elapsed: float,
        timeout: float,
        log_tail: Sequence[str] = (),
        log_path: str | None = None,
        hint: str = "",
    ) -> None:
        self.probe = probe
        self.last_error = last_error
        self.elapsed = elapsed
        self.timeout = timeout
        self.log_tail = tuple(log_tail)
        self.hint = hint
        super().__init__(
            service,
            f"{service}: not ready after {elapsed:.1f}s (timeout {timeout:g}s); "
            f"probe {probe}; last error: {last_error}"
            + (f"\n  {hint}" if hint else "")
            + _tail_block(self.log_tail, log_path),
        )


class ServiceExited(ServiceError):
    """The process ended while it was starting."""

    def __init__(
        self,
        service: str,
        exit_code: int | None,
        log_tail: Sequence[str] = (),
        log_path: str | None = None,
    ) -> None:
        self.returncode = exit_code
        self.log_tail = tuple(log_tail)
        super().__init__(
            service,
            f"{service}: exited during startup with code {exit_code}"
            + _tail_block(self.log_tail, log_path),
        )


class TaskFailed(ServiceError):
    """A one-shot task (migrations …) exited non-zero, or was still running at its deadline
    (``exit_code`` ``None``; it is stopped). Its dependents do not start."""

    def __init__(
        self,
        service: str,
        exit_code: int | None,
        seconds: float,
        log_tail: Sequence[str] = (),
        log_path: str | None = None,
        held_back: Sequence[str] = (),
    ) -> None:
        self.returncode = exit_code
        self.log_tail = tuple(log_tail)
        how = (
            f"exited with code {exit_code} after {seconds:.2f}s"
            if exit_code is not None
            else f"still running after {seconds:.1f}s (its startup_timeout); stopped"
        )
        after = f"; not (re)started, as they depend on it: {', '.join(held_back)}"
        super().__init__(
            service,
            f"{service}: task failed: {how}{after if held_back else ''}"
            + _tail_block(self.log_tail, log_path),
        )


class PortInUse(ServiceError):
    """Something realstack did not start answers on the service's port. It is never killed."""

    def __init__(
        self, service: str, port: int, owner: str | None, setting: str = "the manifest"
    ) -> None:
        self.port = port
        self.owner = owner
        who = f" by {owner}" if owner else " by a process realstack cannot see"
        super().__init__(
            service,
            f"{service}: port {port} is already in use{who}. realstack did not start it and "
            f"will not stop it: stop it yourself, or choose another port ({setting}).",
        )


class ProviderError(RealstackError):
    """A provider could not do its part; ``provider`` and ``service`` say whose (may be "")."""

    def __init__(self, message: str, *, provider: str = "", service: str = "") -> None:
        self.provider = provider
        self.service = service
        super().__init__(message)


class ProviderUnavailable(ProviderError):
    """The provider cannot work on this machine (missing binary, no engine, permissions).

    Raised before anything starts, so nothing needs rolling back.
    """


class ProviderFailed(ProviderError):
    """The provider failed while doing its work (a compose call exited, a container vanished)."""


class StopFailed(ProviderFailed):
    """Something of ours would not stop; ``pids`` (or a container) survived the whole ladder."""

    def __init__(self, message: str, *, provider: str, service: str, pids: tuple[int, ...] = ()):
        self.pids = pids
        super().__init__(message, provider=provider, service=service)


class LockTimeout(RealstackError):
    """Another realstack process held the instance lock for too long."""


class NothingRuns(RealstackError):
    """No service of a local env runs: its contract would name none, and a script that evals
    it (``eval "$(invoke env.show -f shell)"``) must stop here, not go on without one."""

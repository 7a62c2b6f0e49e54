"""What every realstack task shares: loading the stack (and checking its state dir), masking
what is printed, progress lines, and the one exception → exit-code conversion
(:func:`friendly`): a realstack error is its message and exit code, anything else a message
with its traceback kept in the instance's log, never a traceback on the terminal."""

from __future__ import annotations

import functools
import math
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Literal, ParamSpec, TypeVar, cast

from invoke.exceptions import Exit

from realstack import interrupts
from realstack.errors import ConfigError, RealstackError
from realstack.manifest import load_stack
from realstack.model import Stack
from realstack.results import Event, Report
from realstack.secrets import mask, named_secrets, secret_values
from realstack.state import InstancePaths, keep_traceback

P = ParamSpec("P")
R = TypeVar("R")


# The stack the running task loaded: what its messages are masked with, where its
# unexpected tracebacks go. Set by :func:`load_for_task`, cleared by :func:`friendly`.
loaded: ContextVar[Stack | None] = ContextVar("realstack_task_stack", default=None)


def current_secrets() -> frozenset[str]:
    """The loaded stack's secrets; before one is loaded, the secret-named environment."""
    stack = loaded.get()
    if stack is not None:
        return secret_values(stack)
    return named_secrets(os.environ)


def say(text: str) -> str:
    """``text`` as it may be printed: no secret in it."""
    return mask(text, current_secrets())


def _drop_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered for a reader that has gone would
    fail again at exit ("Exception ignored … BrokenPipeError"). Quiet, as a Unix tool that
    ends on SIGPIPE is."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _unexpected(exc: Exception) -> str:
    """The one line for an exception realstack did not expect; its traceback goes to the
    instance's ``logs/realstack.log``, or to stderr when there is no usable state directory."""
    trace = say("".join(traceback.format_exception(exc)))
    head = f"realstack: unexpected {type(exc).__name__}: {' '.join(str(exc).split())}"
    stack = loaded.get()
    if stack is not None:
        try:
            log = keep_traceback(InstancePaths(stack.state_dir), trace)
        except OSError:
            pass
        else:
            return say(f"{head} (traceback in {log})")
    print(trace, end="", file=sys.stderr)
    return say(f"{head} (traceback above; please report it)")


def friendly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn every error into one message and an exit code (invoke prints ``Exit`` messages):
    a realstack error's own code, 1 for anything unexpected."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        token = loaded.set(None)
        try:
            with interrupts.ending_signals_interrupt():  # SIGTERM, SIGHUP: as Ctrl-C
                return fn(*args, **kwargs)
        except Exit:
            raise
        except RealstackError as exc:
            raise Exit(say(f"realstack: {exc}"), code=exc.exit_code) from None
        except interrupts.StartInterrupted as exc:
            raise Exit(say(f"realstack: interrupted; {exc.outcome()}"), 128 + exc.signum) from None
        except KeyboardInterrupt as exc:
            raise Exit("realstack: interrupted", 128 + interrupts.signum_of(exc)) from None
        except BrokenPipeError:  # `invoke services.list | head`: the reader is done
            _drop_stdout()
            raise Exit(code=128 + signal.SIGPIPE) from None
        except Exception as exc:  # noqa: BLE001 - the one place a task's surprise is caught
            raise Exit(_unexpected(exc), code=1) from None
        finally:
            loaded.reset(token)

    return wrapper


def parse_only(only: str | None) -> list[str] | None:
    return [n.strip() for n in only.split(",") if n.strip()] if only else None


def parse_timeout(value: object) -> float | None:
    """``--timeout``: seconds, more than 0 (invoke passes the text as given): in 0 s nothing
    is ever ready, and a restart's rollback took down a service that ran well."""
    if value is None:
        return None
    try:
        seconds = float(cast(str, value))
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError("timeout", f"expected seconds (more than 0), got {value!r}")
    return seconds


class ProgressLines:
    """Progress lines while starting/stopping: service, event, detail, with elapsed time."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.t0 = time.monotonic()
        self.secrets = tuple(secrets)
        self._lock = threading.Lock()  # services start in threads: one whole line at a time

    def __call__(self, service: str, event: Event, detail: str) -> None:
        elapsed = time.monotonic() - self.t0
        line = f"  [{elapsed:6.2f}s] {service:<12} {event:<10} {detail}".rstrip()
        with self._lock:
            sys.stdout.write(mask(line, self.secrets) + "\n")
            sys.stdout.flush()


def left_alone(stack: Stack, verb: str) -> None:
    """A deployed env: say so, name where its services are, touch nothing."""
    print(
        f"realstack [{stack.env}] is a deployed stack: realstack {verb} nothing there "
        f"(`invoke staging.check --env {stack.env}` checks it)"
    )
    for svc in stack.services:
        print(say(f"  {svc.name:<12} {svc.external or 'not offered by this env'}"))


def print_failures(report: Report) -> None:
    for error in report.errors:
        print(say(f"\n✗ {error}"), file=sys.stderr)


def load_for_task(
    env: str | None,
    *,
    state: Literal["read", "write"] | None = None,
    provider: str | None = None,
) -> Stack:
    """Load the manifest for ``env``; with ``state`` ("read" or "write"), check up front that
    the state directory can be used so (one message naming the path and the fix). A deployed
    env has no state of realstack's."""
    stack = load_stack(env=env, provider=provider) if provider else load_stack(env=env)
    loaded.set(stack)
    if state is not None and not stack.deployed:
        InstancePaths(stack.state_dir).check(stack.names, write=state == "write")
    return stack


def note_dependents(stack: Stack, name: str) -> None:
    """After a restart of ``name`` whose dependents answer their probes again: they were not
    restarted, and their connections to it were cut; an app that does not reconnect by
    itself (its probe may not use the connection) needs a restart of its own."""
    users = _running_users(stack, [name])
    if users:
        one = len(users) == 1
        answer = "it answers its" if one else "they answer their"
        print(
            f"  note: {', '.join(users)} depend{'s' if one else ''} on {name} and "
            f"{'was' if one else 'were'} not restarted; {answer} probe again (one that does "
            f"not reconnect by itself: `invoke services.restart {users[0] if one else '<name>'}`)"
        )


def note_left_running(stack: Stack, stopped: list[str]) -> None:
    """After ``stop --only``: what still runs and depends on a service just stopped fails
    until it is back (its probe says so; a test run's preflight names them all)."""
    users = _running_users(stack, stopped)
    if users:
        one = len(users) == 1
        print(
            f"  note: {', '.join(users)} still run{'s' if one else ''} and depend"
            f"{'s' if one else ''} on {', '.join(stopped)}: "
            f"{'it fails' if one else 'they fail'} until `invoke services.start --wait` "
            f"brings {'it' if len(stopped) == 1 else 'them'} back"
        )


def _running_users(stack: Stack, names: list[str]) -> list[str]:
    """The services that run and depend on any of ``names`` directly, by name."""
    from realstack.restarting import running_dependents  # noqa: PLC0415 - restart/stop only

    return sorted(s.name for s in running_dependents(stack, names, direct=True))

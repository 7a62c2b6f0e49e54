"""The ``realstack`` command: invoke's runner over realstack's tasks, with usage errors → exit 2.

``invoke services.start`` works the same; invoke itself exits 1 on a bad flag, which this
command reports as the usage error it is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from invoke.program import Program

USAGE_ERROR = 2
INTERRUPTED = 130  # 128 + SIGINT, as the tasks exit on Ctrl-C


def _program() -> Program:
    """invoke's Program with parse errors mapped to exit code 2 (imported here: a Ctrl-C
    while invoke and the tasks load is the interrupt below, not a traceback of imports)."""
    from invoke.exceptions import Exit, ParseError  # noqa: PLC0415
    from invoke.program import Program  # noqa: PLC0415

    from realstack import __version__  # noqa: PLC0415
    from realstack.tasks import namespace  # noqa: PLC0415

    class _Program(Program):
        def parse_core(self, argv: list[str] | None) -> None:
            try:
                super().parse_core(argv)
            except ParseError as exc:
                raise Exit(f"realstack: {exc}", code=USAGE_ERROR) from None

        def parse_tasks(self) -> None:
            try:
                super().parse_tasks()
            except ParseError as exc:
                raise Exit(f"realstack: {exc}", code=USAGE_ERROR) from None

    return _Program(namespace=namespace, name="realstack", binary="realstack", version=__version__)


def run(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point; exits with the task's code."""
    try:
        _program().run(list(argv) if argv is not None else None)
    except KeyboardInterrupt:  # while invoke and the tasks load: a task says it itself
        print("realstack: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except BrokenPipeError:  # `realstack --help | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)

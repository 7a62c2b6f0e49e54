"""The ``realstack`` command: invoke's runner over realstack's tasks, with usage errors → exit 2.

``invoke services.start`` works the same; invoke itself exits 1 on a bad flag, which this
command reports as the usage error it is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from invoke.exceptions import Exit, ParseError
from invoke.program import Program

from realstack import __version__
from realstack.tasks import namespace

USAGE_ERROR = 2


class _Program(Program):
    """invoke's Program with parse errors mapped to exit code 2."""

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


def run(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point; exits with the task's code."""
    program = _Program(
        namespace=namespace, name="realstack", binary="realstack", version=__version__
    )
    try:
        program.run(list(argv) if argv is not None else None)
    except BrokenPipeError:  # `realstack --help | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)

"""``env.show``: the env contract, for a shell, a dotenv consumer or a machine."""

from __future__ import annotations

import sys
from typing import Any, cast

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from realstack.cli_support import friendly, load_for_task, say
from realstack.errors import ConfigError


@task(name="show", help={"env": "env", "format": "dotenv (default), json or shell"})
@friendly
def show(c: Context, env: str | None = None, format: str = "dotenv") -> None:
    """Print the env contract: where every service is (`eval "$(invoke env.show -f shell)"`)."""
    from realstack import envfile, runtime  # noqa: PLC0415

    if format not in envfile.FORMATS:
        raise ConfigError("format", f"expected one of {', '.join(envfile.FORMATS)}; got {format!r}")
    stack = load_for_task(env)
    values, moves = runtime.contract_and_moves(stack)
    for move in moves:
        print(say(f"warning: {move}"), file=sys.stderr)
    print(envfile.render(values, cast(Any, format)), end="")


env_tasks = Collection("env", show)

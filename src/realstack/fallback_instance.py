"""This checkout's instance when the manifest cannot be loaded (``services.stop`` on a broken
pyproject): derived the way the manifest would derive it, from what is still readable: the
project root, the env (``--env``, ``REALSTACK_ENV``, a readable ``default_env``, else
``test``), its env file, ``REALSTACK_STATE_DIR`` / ``REALSTACK_INSTANCE`` and a readable
``state_dir``. :mod:`realstack.salvage` stops what its records prove ours.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from realstack.errors import ConfigError
from realstack.fields import interpolate, text
from realstack.locations import ENV_NAME, instance_dir, read_env_file, state_base
from realstack.model import DEFAULT_COMPOSE_FILE, Stack
from realstack.project import tool_table
from realstack.state import InstancePaths

__all__ = ["instance_without_manifest", "project_root"]


def _names_realstack(pyproject: Path) -> bool:
    """Whether ``pyproject`` is a realstack manifest, or a broken document that mentions one."""
    try:
        if not pyproject.is_file():
            return False
        try:
            return "realstack" in tool_table(pyproject)
        except ConfigError:  # not TOML at all: the manifest may be exactly what is broken
            return b"tool.realstack" in pyproject.read_bytes()
    except OSError:
        return False


def project_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (the cwd) whose pyproject.toml is, or
    mentions, a realstack manifest; ``start`` itself when none does."""
    here = (start or Path.cwd()).resolve()
    return next((d for d in (here, *here.parents) if _names_realstack(d / "pyproject.toml")), here)


def _readable_table(root: Path) -> Mapping[str, Any]:
    """What can still be read of ``[tool.realstack]`` (nothing when the document is broken)."""
    try:
        table = tool_table(root / "pyproject.toml").get("realstack")
    except ConfigError:
        return {}
    return table if isinstance(table, dict) else {}


def instance_without_manifest(
    env: str | None = None,
    *,
    start: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Stack | None:
    """This checkout's instance for ``env``, without services, derived as the manifest
    derives it; ``None`` when there is not enough to go on or its state directory is absent."""
    environ = os.environ if environ is None else environ
    root = project_root(start)
    table = _readable_table(root)
    default = table.get("default_env")
    env = env or environ.get("REALSTACK_ENV") or (default if isinstance(default, str) else "test")
    if not ENV_NAME.fullmatch(env):
        return None
    try:
        variables = {**read_env_file(root, env), **environ}
    except ConfigError:
        variables = dict(environ)
    instance = variables.get("REALSTACK_INSTANCE") or env
    if not ENV_NAME.fullmatch(instance):
        return None
    try:
        base = state_base({k: v for k, v in table.items() if k == "state_dir"}, root, variables)
    except ConfigError:
        return None  # a state_dir that cannot be resolved: nowhere safe to look
    try:
        compose = text(
            interpolate(table.get("compose_file", DEFAULT_COMPOSE_FILE), variables, "compose_file"),
            "compose_file",
        )
    except ConfigError:
        compose = DEFAULT_COMPOSE_FILE
    stack = Stack(
        root=root,
        env=env,
        instance=instance,
        state_dir=base / instance_dir(base, root, instance),
        services=(),
        compose_file=root / compose,
        variables=variables,
    )
    return stack if InstancePaths(stack.state_dir).root.is_dir() else None

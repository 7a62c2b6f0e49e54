"""The env contract: where every service is, for every other process (dotenv, JSON, shell)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Collection, Mapping
from typing import Any, Literal

from realstack.model import Stack
from realstack.state import InstancePaths, write_atomic

Format = Literal["dotenv", "json", "shell"]
FORMATS: tuple[Format, ...] = ("dotenv", "json", "shell")
_BARE = re.compile(r"^[A-Za-z0-9_@%+=:,./?&-]*$")


def contract(
    stack: Stack, running: Collection[str] = (), *, enabled: bool = True
) -> dict[str, str]:
    """``REALSTACK_INSTANCE_ID`` plus the exports of those in ``running`` and, with
    ``enabled``, of every enabled service (no profile, or an active one), in manifest order.

    What a manifest says (``enabled``) is where services will be, what tests and the plugin
    probe; what runs (``enabled=False``) is what a start's ``runtime.env`` and ``env.show``
    promise, so ``--only redis`` does not hand out a ``DATABASE_URL`` nobody answers on.

    Nothing in it selects realstack's own env (no ``REALSTACK_ENV``): a shell that evaluates
    the dev contract still runs its realstack commands and tests against ``test`` unless it
    asks for another env on purpose.
    """
    values = {"REALSTACK_INSTANCE_ID": stack.instance_id}
    for svc in stack.services:
        if (enabled and stack.enabled(svc)) or svc.name in running:
            values.update(svc.exports)
    return values


def _dotenv_value(value: str) -> str:
    """Quote for python-dotenv: bare when safe, else single quotes, else escaped double quotes.

    python-dotenv unescapes ``\\`` and ``\'`` even inside single quotes and expands ``${…}``
    everywhere, so a value with ``${`` or a trailing backslash cannot round-trip.
    """
    if _BARE.fullmatch(value):
        return value
    if "'" not in value and "\\" not in value:
        return f"'{value}'"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(values: Mapping[str, str], fmt: Format) -> str:
    if fmt == "json":
        return json.dumps(dict(values), indent=2) + "\n"
    if fmt == "shell":
        return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items())
    return "".join(f"{k}={_dotenv_value(v)}\n" for k, v in values.items())


def _files(values: Mapping[str, str], runtime: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    header = (
        '# Written by realstack for dotenv loaders; shells: eval "$(invoke env.show -f shell)"\n'
    )
    return header + render(values, "dotenv"), {**runtime, "env": dict(values)}


def write(paths: InstancePaths, values: Mapping[str, str], runtime: Mapping[str, Any]) -> None:
    """``runtime.env`` (the contract) and ``runtime.json`` (contract + status and timings)."""
    text, data = _files(values, runtime)
    write_atomic(paths.runtime_env, text)
    write_atomic(paths.runtime_json, json.dumps(data, indent=2) + "\n")


def written(
    paths: InstancePaths,
    values: Mapping[str, str],
    runtime: Mapping[str, Any],
    ignore: Collection[str] = (),
) -> bool:
    """Whether both files already say this (``ignore``: keys of ``runtime.json`` that may
    differ, such as when it was written)."""
    text, data = _files(values, runtime)
    try:
        on_disk = json.loads(paths.runtime_json.read_text())
        same_env = paths.runtime_env.read_text() == text
    except (OSError, ValueError):
        return False
    if not (same_env and isinstance(on_disk, dict)):
        return False
    return {k: v for k, v in on_disk.items() if k not in ignore} == {
        k: v for k, v in data.items() if k not in ignore
    }

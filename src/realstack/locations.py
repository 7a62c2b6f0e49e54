"""Where a project's values and state live: ``envs/<env>.env``, the state base
(``.realstack`` or ``REALSTACK_STATE_DIR``) and an instance's directory in it. Shared by the
manifest and by :mod:`realstack.fallback_instance`, which must find them without one.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from realstack.errors import ConfigError
from realstack.fields import interpolate, nearest, shown, text
from realstack.project import ROOT

ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# State directories that are never a project's: pseudo-filesystems of the kernel.
_NO_STATE_UNDER = (Path("/proc"), Path("/sys"), Path("/dev"))


def read_env_file(root: Path, env: str, source: str = "env") -> dict[str, str]:
    """``envs/<env>.env`` as a dict. A project without env files needs none (nothing to
    interpolate); once it has some, a missing one is a typo until proven otherwise, and the
    error names the ones that exist. ``source`` is where the env name came from (``env``,
    ``REALSTACK_ENV`` or the manifest's default_env)."""
    if not ENV_NAME.fullmatch(env):
        raise ConfigError(source, f"invalid env name {shown(env)}")
    path = root / "envs" / f"{env}.env"
    if not path.is_file():
        known = sorted(p.stem for p in (root / "envs").glob("*.env") if p.is_file())
        if not known:
            return {}
        raise ConfigError(
            source,
            f"unknown env {env!r}: {path} does not exist (known: {', '.join(known)})"
            + nearest(env, known),
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"not a readable env file: not UTF-8 ({exc.reason})") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read: {exc.strerror or exc}") from None
    for binding in parse_stream(io.StringIO(text)):  # python-dotenv only logs and skips these
        if binding.error:  # the line itself is not shown: it may hold a secret
            raise ConfigError(
                str(path),
                f"line {binding.original.line} is not NAME=value (a missing '=', or an "
                "unclosed quote)",
            )
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {k: v or "" for k, v in values.items()}


def instance_dir(base: Path, root: Path, instance: str) -> str:
    """``<instance>`` inside the project; outside it (``REALSTACK_STATE_DIR=/var/tmp/x``),
    ``<instance>-<hash of the project>``, so checkouts sharing one state base never share
    records, logs or data (nor take each other's processes for their own)."""
    real, project = Path(os.path.realpath(base)), Path(os.path.realpath(root))
    if project in real.parents:
        return instance
    digest = hashlib.sha256(str(project).encode()).hexdigest()[:10]
    return f"{instance}-{digest}"


def state_base(table: Mapping[str, Any], root: Path, variables: Mapping[str, str]) -> Path:
    """The state base (``.realstack`` by default): never the project itself, a directory
    above it or a kernel pseudo-filesystem, where instances' data would be mixed with
    everything else."""
    if variables.get("REALSTACK_STATE_DIR"):
        where, raw = "REALSTACK_STATE_DIR", variables["REALSTACK_STATE_DIR"]
    else:
        where, raw = f"{ROOT}.state_dir", table.get("state_dir", ".realstack")
    base = root / text(interpolate(raw, variables, where), where)
    # realpath: no error on a symlink loop (a missing path is fine; it is created later)
    real, project = Path(os.path.realpath(base)), Path(os.path.realpath(root))
    if real == project or real in project.parents:
        what = "the project root" if real == project else f"a directory above the project ({real})"
        raise ConfigError(
            where, f"{shown(str(raw))} is {what}: use a directory of its own, e.g. .realstack"
        )
    for system in _NO_STATE_UNDER:
        if real == system or system in real.parents:
            raise ConfigError(
                where, f"{shown(str(raw))} is under {system}: use a directory of its own"
            )
    return base

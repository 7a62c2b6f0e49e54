"""Where a project's realstack manifest is: the nearest ``pyproject.toml`` with
``[tool.realstack]``.

Apart from :mod:`realstack.manifest` because every pytest run with realstack installed asks
this question (the plugin stays out of projects without a manifest), and the answer must not
cost the manifest machinery's imports.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from realstack.errors import ConfigError

ROOT = "tool.realstack"


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` whose pyproject.toml has ``[tool.realstack]``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and "realstack" in tool_table(pyproject):
            return candidate
    raise ConfigError(ROOT, f"no pyproject.toml with a [{ROOT}] table at or above {here}")


def owning_root(start: Path) -> Path | None:
    """The project ``start`` belongs to (the nearest directory at or above it with a
    pyproject.toml) when that pyproject has ``[tool.realstack]``; else ``None``: a plain
    project inside a realstack checkout (a monorepo's package) is not the checkout's."""
    here = start.resolve()
    for candidate in (here, *here.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            return candidate if "realstack" in tool_table(pyproject) else None
    return None


def tool_table(pyproject: Path) -> dict[str, Any]:
    """The ``[tool]`` table of ``pyproject`` (empty when there is none)."""
    tool = read_toml(pyproject).get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(
            "tool",
            f"must be a table ([{ROOT}] goes under it), got {type(tool).__name__} in {pyproject}",
        )
    return tool


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(str(path), "not usable TOML: values nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: not UTF-8 ({exc.reason})") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read: {exc.strerror or exc}") from None

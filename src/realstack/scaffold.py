"""``realstack init``: the starter files of an existing project.

Idempotent and non-interactive (CI has no stdin): a file that exists is kept unless ``force``,
an existing ``[tool.realstack]`` or ``noxfile.py`` never, and a second run changes nothing and
says what exists. Everything is decided before the first write, so bad input (a pyproject.toml
that is no TOML) changes nothing.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realstack import starter
from realstack.detect import Findings, detect
from realstack.errors import ConfigError, RealstackError
from realstack.gitignore import DEFAULT_BASE, ignore_in_git
from realstack.project import ROOT, read_toml
from realstack.state import make_dir

NOXFILE = "noxfile.py"
NOX_SNIPPET = "noxfile.realstack.py"
NEXT = ("invoke services.start --wait", "pytest tests/e2e")


@dataclass(frozen=True)
class Line:
    """One thing init did or found: ``verb`` (wrote, overwrote, exists, note), ``what``, why."""

    verb: str
    what: str
    detail: str = ""


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        raise RealstackError(f"{path}: cannot be written ({exc.strerror or exc})") from None


def _text(path: Path) -> str:
    """What a file holds ("" when it is no readable file)."""
    try:
        return path.read_text(errors="replace") if path.is_file() else ""
    except OSError:
        return ""


def _holds(path: Path, text: str) -> bool:
    return path.is_file() and _text(path) == text


def _put(root: Path, rel: str, text: str, force: bool, detail: str = "") -> Line:
    """Write ``rel`` unless something is there (``force``: a regular file is replaced)."""
    path = root / rel
    if not (path.exists() or path.is_symlink()):
        _write(path, text)
        return Line("wrote", rel, detail)
    if _holds(path, text):
        return Line("exists", rel, "unchanged")
    if not force or not path.is_file() or path.is_symlink():
        return Line("exists", rel, "kept (--force replaces it)" if path.is_file() else "kept")
    _write(path, text)
    return Line("overwrote", rel, detail)


def _services(found: Findings) -> str:
    return "postgres, redis" + (", app" if found.app else "")


def _pyproject_text(path: Path, found: Findings, doc: dict[str, Any]) -> str | None:
    """The new pyproject.toml, or ``None`` when it already has a manifest."""
    tool = doc.get("tool")
    if isinstance(tool, dict) and "realstack" in tool:
        return None
    section = starter.manifest(found)
    if not path.exists():
        return section.lstrip("\n")
    old = path.read_text()
    new = old + ("\n" if old and not old.endswith("\n") else "") + section
    try:
        ok = isinstance(tomllib.loads(new).get("tool", {}).get("realstack"), dict)
    except (tomllib.TOMLDecodeError, AttributeError):
        ok = False
    if not ok:  # e.g. `tool = {...}` inline: a [tool.realstack] table cannot be added after it
        raise ConfigError(str(path), f"cannot append [{ROOT}] to it: add the section by hand")
    return new


def _notes(found: Findings, wrote_manifest: bool, doc: dict[str, Any]) -> list[Line]:
    notes = []
    if found.app:
        probe = f"GET {found.app.health}" if found.app.health else "tcp connect"
        text = f"{found.app.source}: uvicorn {found.app.target}, {probe}"
        if not wrote_manifest and found.app.target not in str(doc.get("tool", {})):
            # the manifest was left as it is: the app found is not in it
            text += '; not in your manifest: add it as a `kind = "process"` service'
        notes.append(Line("note", "app", text))
        if importlib.util.find_spec("uvicorn") is None:
            notes.append(Line("note", "app", f"uvicorn is not installed for {sys.executable}"))
    elif wrote_manifest:
        notes.append(Line("note", "app", "none found: a commented-out example is in the manifest"))
    if found.alembic:
        where = "commented out in the manifest as `migrate`" if wrote_manifest else 'kind = "task"'
        notes.append(
            Line("note", "alembic.ini", f"migrations can be a one-shot `task` service ({where})")
        )
    return notes


def _noxfile(root: Path, found: Findings, force: bool) -> Line:
    own = root / NOXFILE
    if not own.exists():
        return _put(root, NOXFILE, starter.noxfile(found, beside_own=False), force, "nox -s e2e")
    if "services.start" in _text(own):
        return Line("exists", NOXFILE, "already starts the stack; left as it is")
    text = starter.noxfile(found, beside_own=True)
    return _put(root, NOX_SNIPPET, text, force, f"e2e session to copy into your {NOXFILE}")


def init(root: Path, *, force: bool = False) -> list[Line]:
    """Write the starter files into ``root``; what was written, kept and noticed."""
    pyproject = root / "pyproject.toml"
    doc = read_toml(pyproject) if pyproject.exists() else {}
    found = detect(root, doc)
    new = _pyproject_text(pyproject, found, doc)
    if new is None:
        lines = [Line("exists", pyproject.name, f"already has [{ROOT}]; left as it is")]
    else:
        _write(pyproject, new)
        lines = [Line("wrote", pyproject.name, f"[{ROOT}]: {_services(found)}")]
    for env in starter.ENVS:
        ports = ", ".join(
            f"{k.removesuffix('_PORT').lower()} {v}" for k, v in starter.PORTS[env].items()
        )
        lines.append(_put(root, f"envs/{env}.env", starter.env_file(env, found), force, ports))
    lines.append(_put(root, "tasks.py", starter.TASKS_PY, force, "invoke finds realstack's tasks"))
    test = "tests/e2e/test_stack.py"
    lines.append(_put(root, test, starter.E2E_TEST, force, "the stack answers (a first e2e test)"))
    lines.append(_noxfile(root, found, force))
    lines.append(_ignore_state(root))
    return lines + _notes(found, wrote_manifest=new is not None, doc=doc)


def _ignore_state(root: Path) -> Line:
    base = root / DEFAULT_BASE
    make_dir(base)
    rel = f"{DEFAULT_BASE}/.gitignore"
    try:
        wrote = ignore_in_git(base)
    except OSError as exc:
        raise RealstackError(f"{base / '.gitignore'}: cannot be written ({exc.strerror})") from None
    return Line("wrote", rel, "state stays out of git") if wrote else Line("exists", rel)


Printer = Callable[[str], None]


def report(root: Path, lines: list[Line], say: Printer = print) -> None:
    """What init did, then the next two commands."""
    say(f"realstack init in {root}")
    width = max(len(line.what) for line in lines)
    for line in lines:
        say(f"  {line.verb:<9} {line.what:<{width}}  {line.detail}".rstrip())
    say("next:")
    for command in NEXT:
        say(f"  {command}")

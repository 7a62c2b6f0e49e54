"""What ``realstack init`` can tell about a project before writing its starter manifest: an
ASGI app to run with uvicorn, a console script, alembic migrations, whether it is a package.

Source is read, never imported: looking must not run the project's code (or need its
dependencies). A guess that cannot be made stays a commented-out example in the manifest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# ``app = FastAPI(...)``, ``api: Starlette = Starlette(...)``, ``app = fastapi.FastAPI(...)``
_ASGI_APP = re.compile(
    r"^(?P<name>[A-Za-z_]\w*)\s*(?::[^=\n]*)?=\s*(?:\w+\.)?(?P<cls>FastAPI|Starlette)\(",
    re.MULTILINE,
)
_HEALTH_ROUTE = re.compile(r"""["']/health["']""")
_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
# Where an app usually is, as (file, module for uvicorn, cwd to run it in).
_USUAL_PLACES = (("main.py", "main", "."), ("app/main.py", "app.main", "."))


@dataclass(frozen=True)
class App:
    """An ASGI app uvicorn can serve: ``uvicorn <target>`` run in ``cwd``."""

    source: str  # the file it was found in, relative to the project root
    target: str  # "app.main:app"
    cwd: str  # "." or "src": where ``python -m uvicorn`` finds the module
    health: str | None  # a path answering 200 once it is up; None: only a TCP connect


@dataclass(frozen=True)
class Findings:
    app: App | None = None
    script: str | None = None  # a [project.scripts] target with no app found in its module
    alembic: bool = False
    package: bool = False  # [project] with a build system: nox can `pip install -e .` it
    name: str = "app"  # for database names: [project].name or the directory's


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace") if path.is_file() else ""
    except OSError:
        return ""


def _app_in(root: Path, source: str, module: str, cwd: str) -> App | None:
    text = _read(root / source)
    found = _ASGI_APP.search(text)
    if found is None:
        return None
    if _HEALTH_ROUTE.search(text):
        health: str | None = "/health"
    else:
        health = "/docs" if found["cls"] == "FastAPI" else None  # FastAPI serves /docs itself
    return App(source, f"{module}:{found['name']}", cwd, health)


def _module_files(module: str) -> list[tuple[str, str]]:
    """Where a module of a script entry may live, as (file, cwd): flat or ``src/`` layout."""
    rel = module.replace(".", "/")
    return [
        (f"{prefix}{rel}{tail}", cwd)
        for prefix, cwd in (("", "."), ("src/", "src"))
        for tail in (".py", "/__init__.py")
    ]


def _scripts(pyproject: Mapping[str, Any]) -> list[str]:
    project = pyproject.get("project")
    scripts = project.get("scripts") if isinstance(project, dict) else None
    if not isinstance(scripts, dict):
        return []
    return [v for v in scripts.values() if isinstance(v, str)]


def _find_app(root: Path, scripts: list[str]) -> App | None:
    for source, module, cwd in _USUAL_PLACES:
        app = _app_in(root, source, module, cwd)
        if app is not None:
            return app
    for entry in scripts:
        module = entry.partition(":")[0].strip()
        if not _MODULE.fullmatch(module):
            continue
        for source, cwd in _module_files(module):
            app = _app_in(root, source, module, cwd)
            if app is not None:
                return app
    return None


def _db_name(pyproject: Mapping[str, Any], root: Path) -> str:
    """A database-friendly short name: lower-case letters, digits and ``_``."""
    project = pyproject.get("project")
    raw = project.get("name") if isinstance(project, dict) else None
    name = re.sub(r"[^a-z0-9]+", "_", str(raw or root.name).lower()).strip("_")[:40]
    return name if name and name[0].isalpha() else "app"


def detect(root: Path, pyproject: Mapping[str, Any]) -> Findings:
    """What ``root`` has, with ``pyproject`` its parsed pyproject.toml (empty if none)."""
    scripts = _scripts(pyproject)
    app = _find_app(root, scripts)
    project = pyproject.get("project")
    return Findings(
        app=app,
        script=scripts[0] if scripts and app is None else None,
        alembic=(root / "alembic.ini").is_file(),
        package=isinstance(project, dict) and "build-system" in pyproject,
        name=_db_name(pyproject, root),
    )

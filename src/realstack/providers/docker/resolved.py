"""The resolved compose model, kept between operations under a key of what resolves it.

``docker compose config`` costs a compose process (0.1-0.2 s) on every start, yet the model
changes only with the compose file, the ``.env`` files compose reads, the variables the file
names and ``COMPOSE_*`` settings: those (by value, hashed) are the key of a copy in the
instance's state dir (mode 0600: it holds resolved environment values). A file that pulls in
other files (``env_file``, ``extends``, ``include``) is resolved by compose every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from pathlib import Path
from typing import Any, cast

from realstack.model import Stack
from realstack.providers.docker import compose

CACHE = "compose-model.json"
_VARIABLE = re.compile(rb"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_OTHER_FILES = re.compile(rb"^\s*(env_file|extends|include)\s*:", re.MULTILINE)


def model(stack: Stack) -> dict[str, Any]:
    """The model of ``compose config``: the kept copy when its key still matches."""
    key = _key(stack)
    path = stack.state_dir / CACHE
    if key is not None:
        with contextlib.suppress(OSError, ValueError):
            kept = json.loads(path.read_text())
            if isinstance(kept, dict) and kept.get("key") == key:
                return cast(dict[str, Any], kept["model"])
    fresh = compose.config(stack)
    if key is not None:
        _keep(path, {"key": key, "model": fresh})
    return fresh


def _key(stack: Stack) -> str | None:
    """A digest of everything ``compose config`` reads; ``None`` if it reads more files."""
    try:
        text = stack.compose_path.read_bytes()
    except OSError:
        return None  # compose says what is wrong
    if _OTHER_FILES.search(text):
        return None
    env = compose.environment(stack)
    names = {n.decode() for n in _VARIABLE.findall(text)} | {
        n for n in env if n.startswith("COMPOSE_")
    }
    dotenvs = {
        str(p): _digest(p) for p in {stack.compose_path.parent / ".env", stack.root / ".env"}
    }
    parts = [
        compose.project_name(stack),
        str(stack.compose_path),
        str(stack.root),
        hashlib.sha256(text).hexdigest(),
        dotenvs,
        {n: env.get(n) for n in sorted(names)},
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""  # absent (or unreadable: compose would not read it either)


def _keep(path: Path, content: dict[str, Any]) -> None:
    """Write atomically, owner-only; a copy that cannot be kept is just not kept."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(content, out)
        temporary.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()

"""State never in git: a ``.gitignore`` holding ``*`` at the top of what realstack creates.

Records, logs, data directories and the env contract belong to one machine; committed, they
would make a clone believe it runs a stack (and leak throwaway credentials). pytest marks its
``.pytest_cache`` the same way, so a project needs no ignore rule of its own. The file is
written only where it is absent: an ignore file someone wrote is theirs.
"""

from __future__ import annotations

import os
from pathlib import Path

NAME = ".gitignore"
TEXT = "# Created by realstack: local state (records, logs, data), never for git.\n*\n"
# The state base a manifest gets by default. Found existing without an ignore file (made by an
# older realstack), it is marked too: by its name it is realstack's own, whoever made it.
DEFAULT_BASE = ".realstack"


def topmost_missing(path: Path) -> Path | None:
    """The highest directory that creating ``path`` (``mkdir -p``) makes; ``None``: it exists.

    Asked before creating, so only what realstack itself creates is marked, never a directory
    it found (``REALSTACK_STATE_DIR=/var/tmp`` must not put an ignore file into /var/tmp).
    """
    top = None
    while not os.path.lexists(path) and path != path.parent:
        top, path = path, path.parent
    return top


def ignore_in_git(directory: Path) -> bool:
    """Write ``directory/.gitignore`` (``*``) unless something is already there; whether it
    wrote. ``directory`` must exist; an ``OSError`` is the caller's to name."""
    try:
        with (directory / NAME).open("x") as fh:  # "x": never replaces, even in a race
            fh.write(TEXT)
    except FileExistsError:
        return False
    return True

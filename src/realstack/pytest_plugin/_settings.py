"""The plugin's settings, resolved once per run: option → environment → ini (pytest-timeout's
``get_env_settings``). Help texts are shared by options and ini values."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from realstack.errors import ConfigError
from realstack.project import find_root, owning_root

ENV_DESC = "env whose stack the suites use (default: REALSTACK_ENV or the manifest's)"
ROOT_DESC = "project holding the manifest (default: found from pytest's rootdir)"
START_DESC = "start missing services; stop what this session started at the end"
ALLOW_SKIP_DESC = "opt out: let strict suites skip (a skip fails the run otherwise)"
SUITES_DESC = "markers / directory names whose tests need the real stack"
REQUIRES_DESC = "services a strict test needs when it does not say (default: all)"
COROUTINES_DESC = "fail a test that leaves a coroutine un-awaited (default: true)"
ALLOW_DESTRUCTIVE_DESC = "opt in: run tests marked destructive against a deployed env"
LOCAL_FIXTURES_DESC = (
    "fixtures that reach into the local stack (direct database access, its signing keys): "
    "a test using one is refused against a deployed env"
)
RETRY_INFRA_DESC = (
    "retry a strict test once after an infrastructure failure, when its services pass their "
    "probes again (env REALSTACK_RETRY_INFRA)"
)
ALLOW_FLAKY_DESC = (
    "opt out: let a test that passed only on its retry pass the run (it fails it otherwise; "
    "env REALSTACK_ALLOW_FLAKY)"
)
RETRY_WAIT_DESC = (
    "seconds a retry waits for the test's services to pass their probes again (default 30; "
    "env REALSTACK_RETRY_WAIT)"
)
RETRY_WAIT = 30.0
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")
LOCAL_FIXTURES = ("pg_conn", "redis_client", "realstack_namespace", "fresh_database")


@dataclass(frozen=True)
class Settings:
    root: Path | None  # the project with a realstack manifest; None: the plugin stays out
    env: str | None
    start: bool
    allow_skip: bool
    suites: tuple[str, ...]
    requires: tuple[str, ...]
    coroutines: bool
    allow_destructive: bool = False
    local_fixtures: tuple[str, ...] = LOCAL_FIXTURES
    retry_infra: bool = False
    allow_flaky: bool = False
    retry_wait: float = RETRY_WAIT


def _manifest_root(config: pytest.Config) -> Path | None:
    """``--realstack-root``'s project, else the one pytest's rootdir belongs to, if it has a
    manifest: a plain package with a pyproject of its own inside a realstack checkout runs
    without the plugin (its suite asked for nothing)."""
    explicit: Path | None = config.getoption("realstack_root")
    try:
        return find_root(explicit) if explicit is not None else owning_root(config.rootpath)
    except (ConfigError, OSError):
        if explicit is not None:
            raise pytest.UsageError(f"--realstack-root={explicit}: no realstack manifest") from None
        return None


def resolve(config: pytest.Config) -> Settings:
    return Settings(
        root=_manifest_root(config),
        env=config.getoption("realstack_env"),
        start=bool(config.getoption("realstack_start")),
        allow_skip=bool(config.getoption("realstack_allow_skip")),
        suites=tuple(config.getini("realstack_suites")),
        requires=tuple(config.getini("realstack_requires")),
        coroutines=bool(config.getini("realstack_coroutine_check")),
        allow_destructive=bool(config.getoption("realstack_allow_destructive")),
        local_fixtures=(*LOCAL_FIXTURES, *config.getini("realstack_local_fixtures")),
        retry_infra=_flag(config, "realstack_retry_infra", "REALSTACK_RETRY_INFRA"),
        allow_flaky=_flag(config, "realstack_allow_flaky", "REALSTACK_ALLOW_FLAKY"),
        retry_wait=_seconds(config, "realstack_retry_wait", "REALSTACK_RETRY_WAIT"),
    )


def _flag(config: pytest.Config, name: str, env: str) -> bool:
    """The option when given, else the environment variable when set, else the ini value."""
    if config.getoption(name):
        return True
    value = os.environ.get(env)
    if value is None:
        return bool(config.getini(name))
    word = value.strip().lower()
    if word not in _TRUE + _FALSE:
        known = ", ".join(_TRUE + _FALSE[:-1])
        raise pytest.UsageError(f"{env}={value!r}: expected one of {known}")
    return word in _TRUE


def _seconds(config: pytest.Config, name: str, env: str) -> float:
    """A positive number of seconds: option, else environment, else ini (else the default)."""
    raw = config.getoption(name) or os.environ.get(env) or config.getini(name) or RETRY_WAIT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not (seconds > 0 and math.isfinite(seconds)):
        raise pytest.UsageError(f"{name}={raw!r}: expected a positive number of seconds")
    return seconds

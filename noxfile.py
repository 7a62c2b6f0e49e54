"""Test sessions. `nox` with no arguments runs what CI runs, fail-fast order.

Inner loop: `nox -R -s unit` reuses the session's virtualenv and skips the install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "unit", "process", "plugin", "integration", "e2e"]
nox.options.stop_on_first_error = True
nox.options.error_on_missing_interpreters = True

PYTEST = ("pytest", "-p", "no:valkey")
# The e2e suite uses neither hypothesis nor anyio (the unit tests do): their plugins would load
# in every interpreter of a run (three under -n 2), about 0.25 s each here.
E2E = (*PYTEST, "-p", "no:anyio", "-p", "no:hypothesispytest", "tests/e2e")
REMOTE_ENGINE = "tcp://127.0.0.1:23750"  # scripts/start_remote_engine.sh's default


def _install(session: nox.Session) -> None:
    # uv skips bytecode compilation by default; with PYTHONDONTWRITEBYTECODE set (as on CI
    # machines) every import would then compile from source, slowing every CLI call.
    session.install("-e", ".[dev]", env={"UV_COMPILE_BYTECODE": "1"})
    # ...and an editable install's own source is not in site-packages: compile it too, or every
    # CLI call compiles realstack afresh (~70 ms a call here).
    session.run("python", "-m", "compileall", "-q", "src", silent=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff==0.17.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src, tests, scripts and this file."""
    _install(session)
    session.run("mypy")


@nox.session
def unit(session: nox.Session) -> None:
    """Pure unit tests: manifest, graph, waiting, env contract (no servers)."""
    _install(session)
    session.run(*PYTEST, "tests/unit", *session.posargs)


@nox.session
def process(session: nox.Session) -> None:
    """Real processes: spawn, group kill, escalation, ownership, readiness failures; the
    provider contract (one lifecycle specification) for the fake and native providers."""
    _install(session)
    session.run(*PYTEST, "tests/process", "tests/providers", *session.posargs)


@nox.session
def plugin(session: nox.Session) -> None:
    """The pytest plugin, by planting each defect in a real inner pytest run (pytester)."""
    _install(session)
    session.run(*PYTEST, "tests/plugin", *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    """Real PostgreSQL and Redis started through realstack, and the CLI end to end."""
    _install(session)
    session.run(*PYTEST, "tests/integration", *session.posargs)


@contextmanager
def _stack(session: nox.Session, env: str) -> Iterator[None]:
    """Bring the stack up for the suite; stop afterwards only what this session started.

    Services already running before the session are kept (your dev loop's stack survives a
    test run), and so is everything with `-- --reuse-stack`. Ctrl-C still runs the stop.
    """
    before = _ours(session, env)
    session.run("invoke", "services.start", "--wait", f"--env={env}")
    started = sorted(_ours(session, env) - before)  # not a disabled profile's service
    try:
        yield
    finally:
        if started and "--reuse-stack" not in session.posargs:
            session.run("invoke", "services.stop", f"--env={env}", f"--only={','.join(started)}")


def _ours(session: nox.Session, env: str) -> set[str]:
    status = session.run("invoke", "services.status", f"--env={env}", "--json", silent=True)
    if status is None:  # `nox --install-only`: nothing ran
        return set()
    return {r["name"] for r in json.loads(str(status))["services"] if r["state"] == "ours"}


def _suite_args(session: nox.Session) -> list[str]:
    return [a for a in session.posargs if a != "--reuse-stack"]


@nox.session
def e2e(session: nox.Session) -> None:
    """The e2e suite against the reference stack (postgres, redis, auth, backend).

    `nox -s e2e -- -m p1` runs the critical path; `-- --reuse-stack` leaves the stack up.
    `-- --splits N --group I` runs one shard (pytest-split, `.test_durations`) on a stack of
    its own (instance `shard-I`) and writes `shard-results/shard-I.json` for
    `nox -s verify-shards` — what each job of the CI matrix runs.
    """
    _install(session)
    shard = _shard_args(session.posargs)
    if shard is not None:
        splits, group, rest = shard
        session.run(*_shard_command(splits, group, rest))
        return
    with _stack(session, "test"):
        session.run(*E2E, *_suite_args(session))


SHARD_RESULTS = "shard-results"


def _shard_args(posargs: list[str]) -> tuple[int, int, list[str]] | None:
    """``--splits N --group I`` (either spelling: ``--splits=N``) and what else was given."""
    found: dict[str, int] = {}
    rest, args = [], iter(posargs)
    for arg in args:
        name, _, value = arg.partition("=")
        if name in ("--splits", "--group"):
            found[name] = int(value or next(args))
        else:
            rest.append(arg)
    if not found:
        return None
    if set(found) != {"--splits", "--group"}:
        raise SystemExit("a shard needs both --splits N and --group I")
    return found["--splits"], found["--group"], rest


def _shard_command(splits: int, group: int, rest: list[str]) -> list[str]:
    """One shard: the same command for the CI matrix job and for `nox -s shards`."""
    return [
        "python",
        "-m",
        "realstack.shards",
        "run",
        f"--splits={splits}",
        f"--group={group}",
        f"--out={SHARD_RESULTS}",
        "--",
        *E2E[1:],
        *rest,
    ]


@nox.session
def durations(session: nox.Session) -> None:
    """Refresh `.test_durations` (commit it): how pytest-split balances the shards."""
    _install(session)
    with _stack(session, "test"):
        session.run(*E2E, "--store-durations", *session.posargs)


@nox.session(name="verify-shards")
def verify_shards(session: nox.Session) -> None:
    """Every e2e test ran exactly once across the shards' results (`-- DIR`, default
    shard-results/): none missing, none twice; failures listed. The CI matrix's last job."""
    session.install("-e", ".", env={"UV_COMPILE_BYTECODE": "1"})
    where = session.posargs[0] if session.posargs else SHARD_RESULTS
    session.run("python", "-m", "realstack.shards", "verify", where)


@nox.session
def shards(session: nox.Session) -> None:
    """`nox -s shards -- N`: N shards of the e2e suite at once on this machine, each on a
    stack of its own, then `verify-shards`; then the same suite unsharded on one stack, for
    the wall times side by side (`-- N --no-compare` skips it). What the CI matrix does."""
    _install(session)
    splits = int(session.posargs[0]) if session.posargs else 3
    shutil.rmtree(SHARD_RESULTS, ignore_errors=True)
    t0 = time.monotonic()
    # the session's venv first on PATH, as session.run puts it
    env = {k: v for k, v in {**os.environ, **session.env}.items() if v is not None}
    env["PATH"] = f"{session.bin}:{os.environ.get('PATH', '')}"
    running = [
        subprocess.Popen(_shard_command(splits, group, []), env=env)
        for group in range(1, splits + 1)
    ]
    codes = [proc.wait() for proc in running]
    sharded = time.monotonic() - t0
    session.run("python", "-m", "realstack.shards", "verify", SHARD_RESULTS)
    if any(codes):
        session.error(f"shard exit codes {codes}")
    if "--no-compare" in session.posargs:
        return
    t0 = time.monotonic()
    with _stack(session, "test"):
        session.run(*E2E)
    single = time.monotonic() - t0
    session.log(
        f"wall time: {splits} shards at once {sharded:.1f} s (stacks included); one stack, "
        f"unsharded {single:.1f} s (start included); ratio {sharded / single:.2f}"
    )


# The integration modules that hold for any provider; test_native_stack and
# test_embedded_binaries test native binaries and pin `provider = "native"`.
PROVIDER_AGNOSTIC = tuple(
    f"tests/integration/{name}.py"
    for name in ("test_service_patterns", "test_cli", "test_orchestration_script")
)


@nox.session
def docker(session: nox.Session) -> None:
    """The Docker provider: its own tests, then the provider-agnostic integration modules and
    the e2e suite with PostgreSQL and Redis in containers (process services stay native).

    Needs a running engine and images: `bash scripts/start_docker_engine.sh`, and without a
    registry `bash scripts/build_offline_images.sh` + `set -a; . .realstack/offline-images.env`.
    No engine or no image fails the run with that fix; nothing is skipped. Last, the e2e
    suite runs against a TCP-only second engine (scripts/start_remote_engine.sh, as root).
    """
    _install(session)
    session.env["REALSTACK_PROVIDER"] = "docker"
    # the provider contract for docker too, and the plugin's log sections from containers
    session.run(
        *PYTEST,
        "tests/docker",
        "tests/providers",
        "tests/plugin/test_failure_reports.py",
        *_suite_args(session),
    )
    session.run(*PYTEST, *PROVIDER_AGNOSTIC, *_suite_args(session))
    with _stack(session, "test"):
        session.run(*E2E, *_suite_args(session))
    # The e2e suite again with the containers on a second engine reachable only over TCP
    # (tests/docker started it; both scripts are cached): nothing local may leak in. An
    # instance of its own, so no record of the default engine's stack is looked up there.
    session.run("bash", "scripts/start_remote_engine.sh", external=True, silent=True)
    session.run("bash", "scripts/load_remote_images.sh", external=True)
    session.env.update({"DOCKER_HOST": REMOTE_ENGINE, "REALSTACK_INSTANCE": "remote"})
    with _stack(session, "test"):
        session.run(*E2E, *_suite_args(session))


@nox.session
def chaos(session: nox.Session) -> None:
    """SIGKILL `services.start` at random and aimed moments (right after each service's
    "starting" line, inside the spawn→record window), copy the checkout, forge and garble
    records; fail on any orphan, bound port, leftover container, failed restart, foreign
    process signalled or traceback.

    `nox -s chaos -- --rounds 100`; `-- --provider docker` needs the engine and images (see
    the docker session).
    """
    _install(session)
    session.run("python", "scripts/chaos", *session.posargs)


@nox.session
def checkouts(session: nox.Session) -> None:
    """Issue #13's proof: 4 clones + 2 worktrees of this repository started at the same
    moment, `nox -s e2e` in each clone at once, stop/restart, rm -rf + prune, in a registry
    of its own (`scripts/many_checkouts.py`). Clones HEAD: commit first.

    `-- --suite-command 'python -m pytest -p no:valkey tests/e2e'` skips the per-clone venvs.
    """
    _install(session)
    session.run("python", "scripts/many_checkouts.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Cold/warm start and stop times beside the raw binaries (prints figures).

    `-- --peers`: only time to the first test and cost per fresh database beside
    pytest-postgresql + pytest-redis, pytest-databases and testcontainers, installed here only
    (their containers: `bash scripts/start_docker_engine.sh` and the offline images).
    """
    if "--peers" in session.posargs:
        session.install("-e", ".[dev,bench]", env={"UV_COMPILE_BYTECODE": "1"})
    else:
        _install(session)
    session.run("python", "scripts/bench.py", *session.posargs)


@nox.session
def staging(session: nox.Session) -> None:
    """The e2e suite against a deployed stack (envs/staging.env; point BACKEND_SERVICE_URL,
    AUTH_SERVICE_URL, WEBSOCKET_URL and STAGING_TEST_JWT_TOKEN at it from the environment).

    `invoke staging.check` first: on anything but ok/degraded the session stops before the
    first test, with the table. Tests a deployed stack cannot take are refused and listed.
    """
    _install(session)
    session.run("invoke", "staging.check", "--env", "staging")
    session.run(*E2E, "--realstack-env=staging", *session.posargs)


@nox.session(name="staging-rehearsal")
def staging_rehearsal(session: nox.Session) -> None:
    """`nox -s staging` against this repository's own test stack standing in for a deployed
    one (what CI can run here: no real staging is reachable), token included."""
    _install(session)
    with _stack(session, "test"):
        shown = session.run("invoke", "env.show", "--env=test", "--format=json", silent=True)
        if shown is None:  # `nox --install-only`: nothing ran
            return
        urls = json.loads(str(shown))
        token = session.run("python", "scripts/staging_token.py", silent=True)
        env = {
            "BACKEND_SERVICE_URL": urls["BACKEND_SERVICE_URL"],
            "AUTH_SERVICE_URL": urls["AUTH_SERVICE_URL"],
            "WEBSOCKET_URL": urls["WEBSOCKET_URL"],
            "STAGING_TEST_JWT_TOKEN": str(token).strip(),
            # the identity the test stack's /health reports (APP_ENV, APP_BUILD)
            "STAGING_EXPECT_ENV": "test",
            "STAGING_EXPECT_BUILD": "dev",
        }
        session.run("invoke", "staging.check", "--env", "staging", env=env)
        session.run(*E2E, "--realstack-env=staging", *session.posargs, env=env)

"""Shared test helpers: throwaway projects with their own manifest, env file and free ports.

A project runs its PostgreSQL and Redis natively unless it is created with
``provider="docker"`` (the integration suite does that when ``REALSTACK_PROVIDER=docker``):
its manifest then points at the repository's docker-compose.test.yml, and its teardown checks
that no container, volume or network of its compose project survives.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import shutil
import signal
import socket
import tempfile
import textwrap
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil
import pytest
from dotenv import dotenv_values

import realstack
from realstack import orchestrator, process_scan
from realstack.errors import ConfigError
from realstack.manifest import load_stack
from realstack.model import Stack
from realstack.process_scan import OWNER_VAR
from realstack.providers import docker as docker_provider
from realstack.results import Report

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.test.yml"
OFFLINE_IMAGES = REPO / ".realstack" / "offline-images.env"
# The compose file's defaults, for when neither the environment nor the offline build names one.
DEFAULT_IMAGES = {
    "POSTGRES_IMAGE": "postgres:16-alpine",
    "REDIS_IMAGE": "redis:7-alpine",
    "CLICKHOUSE_IMAGE": "clickhouse/clickhouse-server:24.8",
}
PROJECT_LABEL = docker_provider.PROJECT_LABEL
SERVICE_LABEL = docker_provider.SERVICE_LABEL


@contextlib.contextmanager
def hearing_ctrl_c() -> Iterator[None]:
    """Children started inside hear SIGINT, as after Ctrl-C in a terminal. A shell starts a
    background job (`nox &`) with SIGINT ignored; an ignored signal stays ignored across exec
    (Python then installs no KeyboardInterrupt), a handled one is reset to its default: so
    SIGINT is handled here while the child starts (main thread only, as pytest runs tests)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def free_port() -> int:
    """A port the OS just handed out (bind port 0), so parallel runs never collide."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def provider_under_test() -> str:
    """``docker`` when ``REALSTACK_PROVIDER=docker`` (as in ``nox -s docker``), else ``native``."""
    return "docker" if os.environ.get("REALSTACK_PROVIDER") == "docker" else "native"


def _sdk() -> Any:
    # The docker SDK ships no types; imported by name so mypy does not ask for stubs.
    return importlib.import_module("docker")


@contextlib.contextmanager
def docker_client(base_url: str | None = None, timeout: int = 30) -> Iterator[Any]:
    """An SDK client (the tests' own view, not realstack's) of the engine ``DOCKER_HOST``
    names, or of the one at ``base_url``; closed afterwards."""
    sdk = _sdk()
    if base_url is None:
        client = sdk.from_env(timeout=timeout)
    else:
        client = sdk.DockerClient(base_url=base_url, timeout=timeout)
    try:
        yield client
    finally:
        client.close()


def of_compose_project(name: str) -> dict[str, str]:
    """The filter that selects one compose project's containers, volumes or networks (by its
    label: never another project's)."""
    return {"label": f"{PROJECT_LABEL}={name}"}


@functools.cache
def _images() -> tuple[tuple[str, str], ...]:
    offline = {k: v for k, v in dotenv_values(OFFLINE_IMAGES).items() if v}
    wanted = {k: os.environ.get(k) or offline.get(k) or d for k, d in DEFAULT_IMAGES.items()}
    with docker_client(timeout=10) as client:
        missing = []
        for image in wanted.values():
            try:
                client.images.get(image)
            except _sdk().errors.ImageNotFound:
                missing.append(image)
    if missing:
        pytest.fail(
            f"image(s) {', '.join(missing)} not in the Docker engine: without a registry run "
            "`bash scripts/build_offline_images.sh`, then "
            "`set -a; . .realstack/offline-images.env; set +a`; with one, `docker pull` them",
            pytrace=False,
        )
    return tuple(wanted.items())


def docker_images() -> dict[str, str]:
    """POSTGRES_IMAGE, REDIS_IMAGE and CLICKHOUSE_IMAGE for the compose file: from the
    environment, else the offline build's env file, else the compose defaults.

    No engine, or an image the engine lacks, fails the test with the fix: never a skip.
    """
    if not docker_provider.engine_available(timeout=5.0):
        pytest.fail(
            "REALSTACK_PROVIDER=docker but no Docker engine answers: "
            "run `bash scripts/start_docker_engine.sh` first",
            pytrace=False,
        )
    return dict(_images())


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """The images the compose file runs (see :func:`docker_images`)."""
    return docker_images()


class Project:
    """A temporary realstack project: pyproject manifest + envs/test.env.

    With ``provider="docker"``, a manifest that names no ``provider`` of its own runs its
    PostgreSQL and Redis with the docker provider, from the repository's compose file; the
    ``images`` go into the env file, where compose finds them.
    """

    def __init__(
        self, root: Path, provider: str = "native", images: Mapping[str, str] | None = None
    ) -> None:
        self.root = root
        self.provider = provider
        self.images = dict(images or {})

    def write(self, manifest: str, env: dict[str, str] | None = None) -> Project:
        header = '[tool.realstack]\ndefault_env = "test"\n'
        body = textwrap.dedent(manifest)
        values = dict(env or {})
        if self.provider == "docker":
            own = _top_level(header + body)
            if "provider" not in own:
                header += 'provider = "docker"\n'
                values = {**self.images, **values}
                if "compose_file" not in own:
                    header += f"compose_file = {json.dumps(str(COMPOSE_FILE))}\n"
        (self.root / "pyproject.toml").write_text(header + body)
        (self.root / "envs").mkdir(exist_ok=True)
        lines = [f"{k}={v}" for k, v in values.items()]
        (self.root / "envs" / "test.env").write_text("\n".join(lines) + "\n")
        return self

    def stack(self, env: str = "test") -> Stack:
        return load_stack(self.root, env, environ={})

    def start(self, **kwargs: object) -> Report:
        return orchestrator.start(self.stack(), **kwargs)  # type: ignore[arg-type]

    def stop(self, **kwargs: object) -> Report:
        return orchestrator.stop(self.stack(), **kwargs)  # type: ignore[arg-type]

    @property
    def state(self) -> Path:
        return self.root / ".realstack" / "test"

    def compose_project(self) -> str:
        """The compose project name realstack gives this project's containers."""
        try:
            stack = self.stack()
        except ConfigError:  # a manifest broken on purpose: the name needs only root + instance
            root = self.root.resolve()
            stack = Stack(root, "test", "test", root / ".realstack" / "test", ())
        return docker_provider.project_name(stack)

    def containers(self) -> list[str]:
        """Names of the containers (running or not) of this project's compose project."""
        with docker_client(timeout=10) as client:
            found = client.containers.list(
                all=True, filters=of_compose_project(self.compose_project())
            )
            return [str(c.name) for c in found]

    def container_log(self, service: str) -> str:
        """The whole log (stdout and stderr) of ``service``'s container in this project."""
        labels = [f"{PROJECT_LABEL}={self.compose_project()}", f"{SERVICE_LABEL}={service}"]
        with docker_client(timeout=10) as client:
            found = client.containers.list(all=True, filters={"label": labels})
            assert len(found) == 1, f"{len(found)} containers of {service} in {labels[0]}"
            return bytes(found[0].logs()).decode(errors="replace")

    def uses_docker(self) -> bool:
        """Whether this project may have put anything into a Docker engine."""
        if self.provider == "docker":
            return True
        try:
            stack = self.stack()
        except ConfigError:
            return False
        return any(s.kind != "process" and s.provider != "native" for s in stack.services)


def _top_level(text: str) -> dict[str, Any]:
    """The ``[tool.realstack]`` table of ``text`` (empty when it is broken on purpose)."""
    try:
        table = tomllib.loads(text).get("tool", {}).get("realstack", {})
    except tomllib.TOMLDecodeError:
        return {}
    return table if isinstance(table, dict) else {}


def remove_docker_leftovers(project: Project) -> list[str]:
    """Remove and name every container, volume and network left in ``project``'s compose
    project (only those: the label filter never matches another project's)."""
    label = of_compose_project(project.compose_project())
    left: list[str] = []
    with docker_client() as client:
        for container in client.containers.list(all=True, filters=label):
            left.append(f"container {container.name}")
            container.remove(force=True, v=True)
        for volume in client.volumes.list(filters=label):
            left.append(f"volume {volume.name}")
            volume.remove(force=True)
        for network in client.networks.list(filters=label):
            left.append(f"network {network.name}")
            network.remove()
    return left


@contextlib.contextmanager
def throwaway_project(prefix: str, provider: str = "native") -> Iterator[Project]:
    """A project under /tmp (traversable by the PostgreSQL user when tests run as root).

    Afterwards it is stopped through realstack with ``purge=True``, and the test fails if any
    process carrying its owner marker survives that, or (docker) any container, volume or
    network of its compose project. Survivors are removed before failing.
    """
    images = docker_images() if provider == "docker" else None
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    proj = Project(root, provider, images)
    try:
        yield proj
    finally:
        try:
            if (root / "pyproject.toml").exists():
                # a test may have broken the manifest on purpose; the checks below still run
                with contextlib.suppress(realstack.RealstackError):
                    proj.stop(purge=True)
        finally:
            survivors = owned_by(root)
            for proc in survivors:
                with contextlib.suppress(psutil.NoSuchProcess):  # it may end since the scan
                    proc.kill()
            leftovers: list[str] = []
            if proj.uses_docker() and docker_provider.engine_available(timeout=5.0):
                leftovers = remove_docker_leftovers(proj)
            shutil.rmtree(root, ignore_errors=True)
            assert not survivors, f"processes outlived the test: {survivors}"
            assert not leftovers, f"docker objects outlived the test: {leftovers}"


@pytest.fixture
def project() -> Iterator[Project]:
    """A native throwaway project (see :func:`throwaway_project`)."""
    with throwaway_project("realstack-test-") as proj:
        yield proj


@contextlib.contextmanager
def docker_project(
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
    manifest: str,
    env: dict[str, str],
    compose: str,
) -> Iterator[Project]:
    """``project`` with ``manifest``, ``env`` as its env file and ``compose`` as its compose
    file; the env file decides (the caller's shell's values of its names are unset). Stopped,
    its volumes purged, afterwards."""
    for name in env:
        monkeypatch.delenv(name, raising=False)
    project.write(manifest, env)
    (project.root / "docker-compose.test.yml").write_text(compose)
    try:
        yield project
    finally:
        project.stop(purge=True)


def owned_by(root: Path | str) -> list[psutil.Process]:
    """Live processes of the project at ``root``: its owner marker in their environment, or
    one of its log files as their stdout/stderr (what valkey, which wipes its environment,
    still shows). Every leftover check of the suites uses this one scan."""
    prefix = str(root)
    found = []
    for proc in psutil.process_iter():
        try:
            marked = proc.environ().get(OWNER_VAR, "").startswith(prefix)
            logged = any(s.startswith(prefix + "/") for s in process_scan.streams(proc.pid))
            if (marked or logged) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


ProjectFactory = Callable[[], Project]


def plant(path: Path, kind: str) -> Path:
    """Damage for the state-dir tests: a file (``kind="file"``), a directory with something
    in it (``"dir"``) or a FIFO where realstack expects something else."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "file":
        path.write_text("someone's notes\n")
    elif kind == "dir":
        path.mkdir()
        (path / "inside").write_text("keep me\n")
    else:
        os.mkfifo(path)
    return path


@pytest.fixture(scope="session", autouse=True)
def _own_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path | None]:
    """The machine's instance registry (and port leases) of these tests' own: throwaway
    projects neither lease ports nor leave entries in the real one. Not for a run of
    tests/e2e alone, which must see the leases of the stack it tests."""
    if request.config.args and all("e2e" in Path(a).parts for a in request.config.args):
        yield None
        return
    with own_registry(tmp_path_factory.mktemp("registry")) as where:
        yield where


@contextlib.contextmanager
def own_registry(where: Path) -> Iterator[Path]:
    """``XDG_STATE_HOME`` (where the registry lives) pointed at ``where`` for a while."""
    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(where)
    try:
        yield where
    finally:
        if before is None:
            os.environ.pop("XDG_STATE_HOME", None)
        else:
            os.environ["XDG_STATE_HOME"] = before

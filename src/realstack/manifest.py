"""Load → interpolate → validate the ``[tool.realstack]`` manifest into a frozen :class:`Stack`.

Values come from ``envs/<env>.env``, overridden by the process environment, and reach the
manifest through ``${NAME}`` / ``${NAME:-default}``. Every error names the field path.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from realstack import deployed, leases
from realstack.errors import ConfigError, CycleError, MissingVariable
from realstack.fields import choice, interpolate, key, known_keys, nearest, shown, str_map, text
from realstack.graph import check_acyclic
from realstack.locations import ENV_NAME, instance_dir, read_env_file, state_base
from realstack.model import (
    DEFAULT_COMPOSE_FILE,
    PROVIDERS,
    ProviderName,
    Stack,
)
from realstack.project import ROOT, find_root, tool_table
from realstack.secrets import is_secret_name, mask
from realstack.service_address import peer_fields
from realstack.service_parts import VAR_NAME, parse_profiles
from realstack.service_spec import Defaults, build_service
from realstack.stack_checks import check_references

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The keys a manifest may use are the model's fields: a field added to Service is a key.
TOP_KEYS = frozenset(
    {"default_env", "state_dir", "services", "provider", "compose_file", "python", "env"}
)
# Servers in this env run without fsync/AOF unless a service says ``durable = true``: test
# data is thrown away, and speed is the point (every other env keeps its data safe).
FAST_ENVS = frozenset({"test"})


def load_stack(
    root: str | os.PathLike[str] | None = None,
    env: str | None = None,
    instance: str | None = None,
    environ: Mapping[str, str] | None = None,
    provider: str | None = None,
) -> Stack:
    """Load the manifest at ``root`` (found from the cwd by default) for ``env``; ``provider``
    is a command's ``--provider`` (it decides where a container's ports are published)."""
    environ = os.environ if environ is None else environ
    root = find_root(None if root is None else Path(root))
    table = tool_table(root / "pyproject.toml")["realstack"]
    if not isinstance(table, dict):
        raise ConfigError(ROOT, "must be a table")
    if env:
        source = "env"
    elif environ.get("REALSTACK_ENV"):
        env, source = environ["REALSTACK_ENV"], "REALSTACK_ENV"
    else:
        source = f"{ROOT}.default_env"
        env = text(table.get("default_env", "test"), source)
    from_file = read_env_file(root, env, source)
    variables = {**from_file, **environ}
    if deployed.is_deployed(variables):
        deployed.check_env_file(env, from_file)
    try:
        return build_stack(
            table, root=root, env=env, variables=variables, instance=instance, provider=provider
        )
    except MissingVariable as exc:  # only here is it known which env file was read
        env_file = f"envs/{env}.env"
        where = (
            f"{env_file} or the environment"
            if (root / env_file).is_file()
            else f"the environment; there is no {env_file}"
        )
        raise exc.located(where, nearest(exc.name, variables)) from None


def build_stack(
    table: Mapping[str, Any],
    *,
    root: Path,
    env: str,
    variables: Mapping[str, str],
    instance: str | None = None,
    provider: str | None = None,
) -> Stack:
    """Validate a raw ``[tool.realstack]`` mapping. Raises only :class:`ConfigError`, whose
    message shows no secret (secret-named variables, passwords)."""
    try:
        return _build_stack(
            table, root=root, env=env, variables=variables, instance=instance, override=provider
        )
    except CycleError:
        raise  # names services only
    except ConfigError as exc:
        masked = mask(exc.message, _config_secrets(table, variables))
        if masked == exc.message:
            raise
        raise ConfigError(exc.path, masked) from None


def _config_secrets(table: Mapping[str, Any], variables: Mapping[str, str]) -> set[str]:
    """What a config error must not show: secret-named variables and literal passwords."""
    found = {v for k, v in variables.items() if is_secret_name(k)}
    services = table.get("services")
    for raw in services.values() if isinstance(services, dict) else ():
        password = raw.get("password") if isinstance(raw, dict) else None
        if isinstance(password, str) and "${" not in password:
            found.add(password)
    return {v for v in found if len(v) >= 4}


def _shared_env(table: Mapping[str, Any], variables: Mapping[str, str]) -> dict[str, str]:
    where = f"{ROOT}.env"
    env = str_map(interpolate(table.get("env", {}), variables, where, literal_braces=True), where)
    for name in env:
        if not VAR_NAME.fullmatch(name):
            raise ConfigError(key(where, name), "not a valid environment variable name")
    return env


def _python(table: Mapping[str, Any], root: Path, variables: Mapping[str, str]) -> str:
    """``{python}``: the app's interpreter (``python = ".venv/bin/python"``, under the project
    root), else the one realstack runs on."""
    raw = table.get("python")
    if raw is None:
        return sys.executable
    where = f"{ROOT}.python"
    value = text(interpolate(raw, variables, where), where)
    if not value.strip():
        raise ConfigError(where, "the app's interpreter: a path such as .venv/bin/python")
    try:
        path = Path(value).expanduser()
    except RuntimeError as exc:  # ~user that does not exist
        raise ConfigError(where, f"{shown(value)}: {exc}") from None
    return str(path if path.is_absolute() else root / path)


def _build_stack(
    table: Mapping[str, Any],
    *,
    root: Path,
    env: str,
    variables: Mapping[str, str],
    instance: str | None = None,
    override: str | None = None,
) -> Stack:
    known_keys(table, TOP_KEYS, ROOT)
    if instance:
        where = "instance"
    elif variables.get("REALSTACK_INSTANCE"):
        instance, where = variables["REALSTACK_INSTANCE"], "REALSTACK_INSTANCE"
    else:
        instance, where = env, "env"
    if not ENV_NAME.fullmatch(instance):
        raise ConfigError(where, f"invalid instance name {shown(instance)}")
    base = state_base(table, root, variables)
    raw_services = table.get("services", {})
    if not isinstance(raw_services, dict) or not raw_services:
        raise ConfigError(f"{ROOT}.services", "must be a non-empty table of services")
    provider = choice(
        interpolate(table.get("provider", "native"), variables, f"{ROOT}.provider"),
        PROVIDERS,
        f"{ROOT}.provider",
    )
    compose_raw = interpolate(
        table.get("compose_file", DEFAULT_COMPOSE_FILE), variables, f"{ROOT}.compose_file"
    )
    if deployed.is_deployed(variables):
        services = tuple(
            deployed.build_deployed(str(name), raw, variables) for name, raw in raw_services.items()
        )
        check_references(services)
        check_acyclic(services)
        return Stack(
            root=root,
            env=env,
            instance=instance,
            state_dir=base / instance_dir(base, root, instance),
            services=services,
            variables=dict(variables),
            deployed=True,
        )
    state_dir = base / instance_dir(base, root, instance)
    identity = Stack(root, env, instance, state_dir, ()).instance_id
    table, given = leases.with_auto_ports(table, variables, identity)
    raw_services = table["services"]
    variables = leases.apply(raw_services, given, identity)
    peers: dict[str, str] = {}
    for name, raw in raw_services.items():
        peers.update(peer_fields(str(name), raw, variables, provider, override))
    defaults = Defaults(
        root=root,
        variables=variables,
        provider=cast(ProviderName, provider),
        python=_python(table, root, variables),
        durable=env not in FAST_ENVS,
        peers=peers,
        env=_shared_env(table, variables),
        override=override,
    )
    services = tuple(build_service(str(name), raw, defaults) for name, raw in raw_services.items())
    check_references(services)
    check_acyclic(services)
    return Stack(
        root=root,
        env=env,
        instance=instance,
        state_dir=base / instance_dir(base, root, instance),
        services=services,
        compose_file=root / text(compose_raw, f"{ROOT}.compose_file"),
        profiles=parse_profiles(variables.get("REALSTACK_PROFILES", ""), "REALSTACK_PROFILES"),
        variables=dict(variables),
        table=table,
        given=dict(given),
    )

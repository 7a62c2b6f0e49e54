"""Typed readers for manifest values: ``${VAR}`` interpolation, ``{placeholder}`` formatting,
and one converter per field type. Each raises :class:`ConfigError` naming the field path."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import cast

from realstack.errors import ConfigError

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(
    value: object, variables: Mapping[str, str], path: str, *, literal_braces: bool = False
) -> object:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in strings, recursively.

    With ``literal_braces``, braces in the substituted text are doubled so the later
    ``{placeholder}`` step keeps them as they are.
    """
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in variables and variables[name] != "":
                text = variables[name]
            elif default is not None:
                text = default
            else:
                raise ConfigError(
                    path, f"variable {name} is not set (envs/<env>.env or environment)"
                )
            return text.replace("{", "{{").replace("}", "}}") if literal_braces else text

        return VARIABLE.sub(sub, value)
    if isinstance(value, list):
        return [
            interpolate(v, variables, f"{path}[{i}]", literal_braces=literal_braces)
            for i, v in enumerate(value)
        ]
    if isinstance(value, dict):
        return {
            k: interpolate(v, variables, f"{path}.{k}", literal_braces=literal_braces)
            for k, v in value.items()
        }
    return value


def fmt(template: str, fields: Mapping[str, str], path: str) -> str:
    """``{port}``-style placeholders; an unknown one is a ConfigError, ``{{`` is a brace."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(path, f"bad placeholder in {template!r}: {exc}") from None
    out = []
    for literal, name, spec, conv in parsed:
        out.append(literal)
        if name is None:
            continue
        if name not in fields or spec or conv:
            raise ConfigError(
                path,
                f"unknown placeholder {{{name}}}; known: "
                + ", ".join(f"{{{k}}}" for k in sorted(fields)),
            )
        out.append(fields[name])
    return "".join(out)


def text(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(path, f"expected a string, got {type(value).__name__}")
    return value


def str_list(value: object, path: str) -> list[str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return cast(list[str], value)
    raise ConfigError(path, "expected a list of strings (an argv list, no shell)")


def str_map(value: object, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(path, "expected a table of strings")
    for k, v in value.items():
        if not isinstance(v, str | int | float) or isinstance(v, bool):
            raise ConfigError(f"{path}.{k}", "expected a string")
    return {str(k): str(v) for k, v in value.items()}


def choice(value: object, choices: tuple[str, ...], path: str) -> str:
    if value not in choices:
        raise ConfigError(path, f"expected one of {', '.join(choices)}; got {value!r}")
    return str(value)


def integer(value: object, path: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(path, "expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,18}\s*", value):
        return int(value)
    raise ConfigError(path, f"expected an integer, got {value!r}")


def port_number(value: object, path: str) -> int:
    if value is None:
        raise ConfigError(path, "required")
    port = integer(value, path)
    if not 1 <= port <= 65535:
        raise ConfigError(path, f"{port} is not a TCP port (1-65535)")
    return port


def seconds(value: object, path: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(path, f"expected seconds, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise ConfigError(path, f"expected seconds in (0, 3600], got {value!r}")
    return float(value)


def boolean(value: object, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (
        "true",
        "1",
        "yes",
        "on",
        "false",
        "0",
        "no",
        "off",
    ):
        return value.lower() in ("true", "1", "yes", "on")
    raise ConfigError(path, f"expected true or false, got {value!r}")

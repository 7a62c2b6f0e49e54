"""Typed readers for manifest values: ``${VAR}`` interpolation, ``{placeholder}`` formatting,
and one converter per field type. Each raises :class:`ConfigError` naming the field path."""

from __future__ import annotations

import ipaddress
import json
import re
import reprlib
import string
from collections.abc import Collection, Iterable, Mapping
from typing import Any, cast

from realstack.errors import ConfigError, MissingVariable

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# A ``${`` that VARIABLE did not take: unterminated, a bad name, or ``${X:default}``.
_REFERENCE = re.compile(VARIABLE.pattern + r"|\$\{")
MAX_DEPTH = 16  # lists/tables nested deeper than this are a mistake, not a configuration
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 80
_SHOWN.maxlist = _SHOWN.maxdict = 6


def shown(value: object) -> str:
    """``repr`` cut to a readable length: a message shows the value, not all of it."""
    return _SHOWN.repr(value)


def key(path: str, name: object) -> str:
    """``path.name``; a name that is not a bare TOML key is quoted as TOML quotes it."""
    name = str(name)
    return f"{path}.{name}" if _BARE_KEY.fullmatch(name) else f"{path}.{json.dumps(name)}"


def nearest(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when ``word`` is a near miss of one of ``choices`` (a typo),
    else ``""``: a user who wrote ``startup_timout`` learns the fix, not only the fault."""
    import difflib  # noqa: PLC0415 - only an error message needs it

    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def known_keys(raw: Mapping[Any, object], known: Collection[str], path: str) -> None:
    """Refuse the first key of ``raw`` (sorted) that ``known`` lacks, naming its nearest."""
    unknown = sorted(map(str, set(raw) - set(known)))
    if unknown:
        raise ConfigError(key(path, unknown[0]), "unknown key" + nearest(unknown[0], known))


def _no_nul(value: str, path: str) -> str:
    if "\0" in value:
        raise ConfigError(path, "contains a NUL character (\\u0000): remove it")
    return value


def interpolate(
    value: object,
    variables: Mapping[str, str],
    path: str,
    *,
    literal_braces: bool = False,
    _depth: int = 0,
) -> object:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in strings, recursively.

    With ``literal_braces``, braces in the substituted text are doubled so the later
    ``{placeholder}`` step keeps them as they are. Refuses a ``${`` that is not one of those
    forms, a NUL character (in a key, a value or what a variable put there) and nesting
    deeper than :data:`MAX_DEPTH`.
    """
    if isinstance(value, str):
        _no_nul(value, path)

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name is None:
                raise ConfigError(
                    path,
                    f"malformed variable reference at {shown(value[match.start() :])}: "
                    "write ${NAME} or ${NAME:-default}",
                )
            if default is not None and "${" in default:
                raise ConfigError(path, f"a default cannot hold another ${{...}}: ${{{name}:-…}}")
            if name in variables and variables[name] != "":
                text = variables[name]
            elif default is not None:
                text = default
            else:
                raise MissingVariable(path, name, empty=name in variables)
            _no_nul(text, path)
            return text.replace("{", "{{").replace("}", "}}") if literal_braces else text

        return _REFERENCE.sub(sub, value)
    if isinstance(value, list | dict) and _depth >= MAX_DEPTH:
        raise ConfigError(path, f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, list):
        return [
            interpolate(
                v, variables, f"{path}[{i}]", literal_braces=literal_braces, _depth=_depth + 1
            )
            for i, v in enumerate(value)
        ]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            where = key(path, k)
            _no_nul(str(k), where)
            out[k] = interpolate(
                v, variables, where, literal_braces=literal_braces, _depth=_depth + 1
            )
        return out
    return value


def fmt(template: str, fields: Mapping[str, str], path: str) -> str:
    """``{port}``-style placeholders; an unknown one is a ConfigError, ``{{`` is a brace."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(path, f"bad placeholder in {shown(template)}: {exc}") from None
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


ARGV = "a list of strings (an argv list, no shell)"


def str_list(value: object, path: str, expected: str = "a list of strings") -> list[str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return cast(list[str], value)
    raise ConfigError(path, f"expected {expected}")


def str_map(value: object, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(path, "expected a table of strings")
    for k, v in value.items():
        if not isinstance(v, str | int | float) or isinstance(v, bool):
            raise ConfigError(key(path, k), "expected a string")
    return {str(k): str(v) for k, v in value.items()}


def choice(value: object, choices: tuple[str, ...], path: str) -> str:
    if value not in choices:
        hint = nearest(value, choices) if isinstance(value, str) else ""
        raise ConfigError(path, f"expected one of {', '.join(choices)}; got {shown(value)}{hint}")
    return str(value)


def integer(value: object, path: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(path, "expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,18}\s*", value):
        return int(value)
    raise ConfigError(path, f"expected an integer, got {shown(value)}")


def port_number(value: object, path: str) -> int:
    if value is None:
        raise ConfigError(path, "required")
    if isinstance(value, str) and value.strip().lower() == "auto" and value != "auto":
        raise ConfigError(path, f'{shown(value)}: write "auto" for any free port')
    port = integer(value, path)
    if not 1 <= port <= 65535:
        raise ConfigError(path, f"{port} is not a TCP port (1-65535)")
    return port


def seconds(value: object, path: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(path, f"expected seconds, got {shown(value)}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise ConfigError(path, f"expected seconds in (0, 3600], got {shown(value)}")
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
    raise ConfigError(path, f"expected true or false, got {shown(value)}")


def hostname(value: object, path: str) -> str:
    """An IP address or a DNS name (labels of letters, digits, ``-`` and ``_``, the last not
    all digits: ``1.2.3`` is no address), nothing else: the host is bound, probed and put into
    URLs."""
    host = text(value, path)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.split(".")
        named = all(_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit()
        if not (0 < len(host) <= 253 and named):
            raise ConfigError(
                path,
                f"{shown(host)} is not a host name or an IP address "
                "(e.g. 127.0.0.1, ::1, localhost, db.internal)",
            ) from None
    return host

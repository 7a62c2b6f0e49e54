"""What realstack never prints: the manifest's passwords and secret-named values.

``env.show`` is the one place that prints them, on purpose. Everything else that shows text a
secret may reach (status, error messages, log tails, the pytest plugin's reports) passes it
through :func:`mask`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlsplit

from realstack.model import Stack

MASK = "***"
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY|CREDENTIAL|PASSWD", re.IGNORECASE)
_MIN_LENGTH = 4  # shorter values would mask ordinary words ("test" …) everywhere


def is_secret_name(name: str) -> bool:
    """``AUTH_JWT_SECRET``, ``POSTGRES_PASSWORD``, ``STAGING_TEST_API_KEY`` …"""
    return bool(_SECRET_NAME.search(name))


def _named(values: Mapping[str, str]) -> Iterable[str]:
    return (value for name, value in values.items() if is_secret_name(name))


def named_secrets(values: Mapping[str, str]) -> frozenset[str]:
    """The values of ``values`` whose names say they are secret (long enough to mask)."""
    return frozenset(v for v in _named(values) if len(v) >= _MIN_LENGTH)


def secret_values(stack: Stack) -> frozenset[str]:
    """Every secret of the stack, as written and as it appears URL-quoted in a DSN."""
    found: set[str] = set(_named(stack.variables))
    for svc in stack.services:
        if svc.password:
            found.add(svc.password)
        found.update(_named(svc.env))
        found.update(_named(svc.exports))
        for url in (svc.external, *svc.exports.values()):  # a deployed env's DSN credentials
            password = _url_password(url)
            if password:
                found.add(password)
    quoted = {quote(v, safe="") for v in found} | {quote(v) for v in found}
    return frozenset(v for v in found | quoted if len(v) >= _MIN_LENGTH)


def _url_password(value: str) -> str | None:
    try:
        return urlsplit(value).password if "://" in value else None
    except ValueError:
        return None


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***`` (longest first, so no part survives),
    and what is left of one beside a cut (``...``, where pytest shortens a long repr)."""
    ordered = sorted(secrets, key=len, reverse=True)
    for secret in ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    if "..." in text:
        for secret in ordered:
            text = _mask_cut(text, secret)
    return text


_SHORTEST_PIECE = 2  # of a secret beside a cut: two characters are as much as we let show


def _mask_cut(text: str, secret: str) -> str:
    """``'jwt-very-se...st:24000/app'``: pytest cut the repr inside the secret, so no whole
    secret is there to match; its beginning before the ``...`` and its end after are."""
    for size in range(len(secret) - 1, _SHORTEST_PIECE - 1, -1):
        text = text.replace(f"{secret[:size]}...", f"{MASK}...")
        text = text.replace(f"...{secret[-size:]}", f"...{MASK}")
    return text

"""Password hashing for auth: scrypt, parameters stored with each hash.

scrypt is deliberately slow (~50 ms, 16 MiB at the default cost); callers run these functions
in a worker thread so the event loop keeps serving other requests meanwhile. The cost ``n`` is
a per-env setting (``AUTH_SCRYPT_N``): a throwaway test stack hashes thousands of throwaway
passwords and need not pay production's price for each. Verification always uses the
parameters stored with the hash, so hashes made at any cost keep verifying.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_SCRYPT_N, MAX_SCRYPT_N = 2**10, 2**20  # below 2**10 scrypt protects nothing
SALT_BYTES = 16
_MAXMEM = 64 * 1024 * 1024  # n=2**14, r=8 needs 16 MiB plus slack; OpenSSL's default is tight


def valid_cost(n: int) -> bool:
    """A power of two within the bounds this service accepts for ``AUTH_SCRYPT_N``."""
    return MIN_SCRYPT_N <= n <= MAX_SCRYPT_N and n & (n - 1) == 0


def dummy_hash(n: int = SCRYPT_N) -> str:
    """Checked when the email is unknown, so a failed login costs the same either way.

    All-zero salt and digest: no password produces it.
    """
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${'00' * SALT_BYTES}${'00' * 64}"


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    maxmem = max(_MAXMEM, 256 * r * n)  # scrypt needs 128 * r * n bytes; twice that as slack
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=maxmem)


def hash_password(password: str, n: int = SCRYPT_N) -> str:
    """``scrypt$n$r$p$salt_hex$hash_hex``: parameters travel with the hash so they can change."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, n, SCRYPT_R, SCRYPT_P)
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time comparison; a malformed stored hash never matches."""
    try:
        scheme, n, r, p, salt_hex, hash_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(hash_hex)
        actual = _scrypt(password, bytes.fromhex(salt_hex), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)

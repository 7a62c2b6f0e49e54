"""A deployed env's probes: aimed at the URL its env file gives, through the clients (a
deployed PostgreSQL or Redis may need TLS, which the plain-socket probes do not speak).
Loaded only for a deployed service (:func:`realstack.probes.check_for`).
"""

from __future__ import annotations

from realstack.model import Probe, Service
from realstack.probes import ProbeCheck, describe, http_check, tcp_check


def external_check(service: Service) -> ProbeCheck:
    """A deployed service's probe, aimed at the URL its env gives (TLS verified: the CA is
    the system's, or ``SSL_CERT_FILE``'s)."""
    probe: Probe = service.probe
    t = probe.attempt_timeout
    if not service.external:
        return lambda: "not offered by this deployed env (no URL for it in its env file)"
    if probe.kind == "http":
        return http_check(service.external.rstrip("/") + probe.path, probe.status, t)
    if probe.kind == "postgres":
        return postgres_url_check(service.external, t)
    if probe.kind == "redis":
        return redis_url_check(service.external, t)
    return tcp_check(service.host, service.port, t)


def postgres_url_check(url: str, timeout: float) -> ProbeCheck:
    import psycopg  # noqa: PLC0415

    def check() -> str | None:
        try:
            with psycopg.connect(url, connect_timeout=max(1, round(timeout))) as conn:
                conn.execute("SELECT 1").fetchone()
        except psycopg.Error as exc:
            return describe(exc)
        return None

    return check


def redis_url_check(url: str, timeout: float) -> ProbeCheck:
    import redis  # noqa: PLC0415 - a deployed Redis may need TLS, which the raw probe lacks

    def check() -> str | None:
        try:
            with redis.Redis.from_url(url, socket_timeout=timeout) as client:
                client.ping()
        except (redis.RedisError, ValueError) as exc:  # ValueError: options the URL spells badly
            return describe(exc)
        return None

    return check

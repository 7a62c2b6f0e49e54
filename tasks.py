"""Invoke entry point: realstack's task namespace (services.*, env.*)."""

from realstack.tasks import namespace as ns  # noqa: F401

"""Providers turn a :class:`~realstack.model.Service` into something that runs.

Today there is one, ``native`` (local binaries and app commands, run by the supervisor). The
Docker and external providers plug in behind the same protocol.
"""

from __future__ import annotations

from typing import Protocol

from realstack.model import Service
from realstack.state import InstancePaths
from realstack.supervisor import LaunchSpec


class Provider(Protocol):
    name: str

    def launch_spec(self, service: Service, paths: InstancePaths) -> LaunchSpec:
        """Prepare whatever the service needs on disk and say how to exec it."""
        ...

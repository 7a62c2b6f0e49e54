"""What a deleted checkout's instance left on the engine, found by its labels alone (its
records went with the checkout): the one docker operation that needs no record."""

from __future__ import annotations

from realstack.model import Stack
from realstack.providers.docker import engine
from realstack.providers.docker.compose import project_name
from realstack.providers.docker.engine import (
    REALSTACK_SERVICE_LABEL,
    SERVICE_LABEL,
    engine_available,
)


def prune_instance(stack: Stack) -> list[str]:
    """Stop and remove the containers of an instance whose checkout (and with it its records)
    is gone, found on the engine by its project label *and* realstack's instance mark; then its
    networks once none of its containers is left. Volumes stay. The services removed."""
    if not engine_available():
        return []
    project = project_name(stack)
    removed = []
    with engine.client() as api:
        for container in engine.instance_containers(api, project, stack.instance_id):
            labels = container.labels
            removed.append(labels.get(REALSTACK_SERVICE_LABEL) or labels.get(SERVICE_LABEL, "?"))
            engine.stop_and_remove(container)
        containers, networks, _volumes = engine.project_resources(api, project)
        if not containers:
            for network in networks:
                network.remove()
    return sorted(removed)

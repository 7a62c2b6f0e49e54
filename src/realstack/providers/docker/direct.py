"""Create and start a translated compose service through the engine API (no compose CLI).

Services start in parallel; the project's network and named volumes are made first, once,
with the labels compose gives them (so ``compose down`` and ``purge`` find them). External
ones must exist, as compose requires.
"""

from __future__ import annotations

import threading
from typing import Any

from realstack.errors import ProviderFailed
from realstack.providers.docker import engine
from realstack.providers.docker.engine import PROJECT_LABEL
from realstack.providers.docker.spec import NETWORK_LABEL, VOLUME_LABEL, ContainerSpec, Resource

# Held while a project's network and volumes may be created: parallel starts create them
# once (``compose up`` of an untranslated service holds it too: it creates the same ones).
SHARED = threading.Lock()


def start(api: Any, spec: ContainerSpec, project: str) -> str | None:
    """The started container's id, or ``None`` when its image is not in the engine (compose
    then pulls or builds it as the file says)."""
    with SHARED:
        _network(api, spec.network, project)
        for volume in spec.volumes:
            _volume(api, volume, project)
    low = api.api  # the low-level client: the high-level one has no stop_timeout
    endpoint = low.create_endpoint_config(aliases=list(spec.aliases))
    try:
        created = low.create_container(
            spec.image,
            host_config=low.create_host_config(**spec.host),
            networking_config=low.create_networking_config({spec.network.name: endpoint}),
            **spec.config,
        )
    except engine.sdk().image_not_found:
        return None
    container_id = str(created["Id"])
    low.start(container_id)  # a failure leaves it created: labelled, so the rollback removes it
    return container_id


def _missing(what: str, resource: Resource) -> ProviderFailed:
    return ProviderFailed(
        f"docker provider: {what} {resource.name!r} is declared external, but does not exist: "
        f"create it (docker {what} create {resource.name})",
        provider="docker",
    )


def _network(api: Any, network: Resource, project: str) -> None:
    try:
        found = api.networks.get(network.name)
        if found.name == network.name:  # get() also matches an id prefix
            return
    except engine.sdk().not_found:
        pass
    if network.external:
        raise _missing("network", network)
    labels = {NETWORK_LABEL: network.key, PROJECT_LABEL: project}
    api.networks.create(network.name, driver="bridge", labels=labels, check_duplicate=True)


def _volume(api: Any, volume: Resource, project: str) -> None:
    try:
        api.volumes.get(volume.name)
        return
    except engine.sdk().not_found:
        pass
    if volume.external:
        raise _missing("volume", volume)
    api.volumes.create(name=volume.name, labels={VOLUME_LABEL: volume.key, PROJECT_LABEL: project})

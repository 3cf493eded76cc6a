"""Apply the install manifests and wait until the CRDs are served."""

from __future__ import annotations

from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.kube.ssa import Applied, Policy, ResourceManager

FIELD_MANAGER = "kidp"
POLICY = Policy(field_manager=FIELD_MANAGER)
"""The installer owns these objects: its applies are forced, nothing steers them."""


async def install(client: KubeClient, objects: list[JSON], timeout: float = 120.0) -> list[Applied]:
    """Apply the objects, CRDs and the namespace first; returns what happened to each."""
    mapper = RestMapper(client)
    await mapper.refresh()
    return await ResourceManager(client, mapper, POLICY, timeout=timeout).apply(objects)

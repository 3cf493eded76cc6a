"""Apply the install manifests and wait until the CRDs are served."""

from __future__ import annotations

from kidp_gitops.kube.apply import Change, apply_staged
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.mapper import RestMapper

FIELD_MANAGER = "kidp"


async def install(client: KubeClient, objects: list[JSON], timeout: float = 120.0) -> list[Change]:
    """Server-side apply (forced: the installer owns these objects), CRDs and the
    namespace first; returns what changed."""
    mapper = RestMapper(client)
    await mapper.refresh()
    return await apply_staged(
        client, mapper, objects, field_manager=FIELD_MANAGER, force=True, timeout=timeout
    )

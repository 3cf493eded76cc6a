"""Deleting what left Git, as `spec.prune` and `spec.deletionPolicy` say.

Only objects that still carry this Kustomization's owner labels are deleted (another
Kustomization may have taken one over), and never one annotated
`kustomize.toolkit.fluxcd.io/prune: disabled`.
"""

from __future__ import annotations

import asyncio

from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.mapper import RestMapper, UnknownKind
from kidp_gitops.kustomize.apply import GROUP, OWNER_NAME, OWNER_NAMESPACE
from kidp_gitops.kustomize.inventory import ObjRef

PRUNE = f"{GROUP}/prune"


class PruneFailed(Exception):
    """Some objects could not be deleted. `deleted` were; `remaining` were not, and must
    stay in the inventory until a later prune confirms them gone."""

    def __init__(self, problems: list[str], deleted: list[ObjRef], remaining: list[ObjRef]):
        super().__init__("; ".join(problems))
        self.deleted = deleted
        self.remaining = remaining


async def prune(
    client: KubeClient,
    mapper: RestMapper,
    stale: list[ObjRef],
    owner: tuple[str, str],
    *,
    wait: bool = False,
    timeout: float = 120.0,
) -> list[ObjRef]:
    """Delete `stale` objects owned by `owner` (name, namespace); return what was deleted.
    Namespaces go last, so their contents are not deleted twice. An object that is
    already gone, no longer ours, or protected from pruning is settled too: only the
    objects of a failed delete are left (`PruneFailed.remaining`)."""
    ordered = sorted(stale, key=lambda r: r.kind == "Namespace")
    deleted: list[ObjRef] = []
    remaining: list[ObjRef] = []
    problems: list[str] = []
    for ref in ordered:
        try:
            if await _delete(client, mapper, ref, owner, wait, timeout):
                deleted.append(ref)
        except (ApiError, TimeoutError) as err:
            remaining.append(ref)
            problems.append(f"{ref}: {getattr(err, 'message', None) or err}")
    if problems:
        raise PruneFailed(problems, deleted, remaining)
    return deleted


async def _delete(
    client: KubeClient,
    mapper: RestMapper,
    ref: ObjRef,
    owner: tuple[str, str],
    wait: bool,
    timeout: float,
) -> bool:
    try:
        resource = await mapper.resource(ref.api_version, ref.kind)
    except UnknownKind:
        return False  # its CRD is gone, and with it the object
    path = resource.path(ref.namespace or None, ref.name)
    try:
        live = await client.get(path)
    except ApiError as err:
        if err.not_found:
            return False
        raise
    meta = live.get("metadata") or {}
    labels = meta.get("labels") or {}
    if (labels.get(OWNER_NAME), labels.get(OWNER_NAMESPACE)) != owner:
        return False
    if (meta.get("annotations") or {}).get(PRUNE) == "disabled":
        return False
    try:
        await client.delete(path, params={"propagationPolicy": "Background"})
    except ApiError as err:
        if err.not_found:
            return False
        raise
    if wait:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    await client.get(path)
                except ApiError as err:
                    if err.not_found:
                        break
                    raise
                await asyncio.sleep(0.2)
    return True

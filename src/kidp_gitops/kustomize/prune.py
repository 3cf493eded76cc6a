"""Deleting what left Git, as `spec.prune` and `spec.deletionPolicy` say.

Only objects that still carry this Kustomization's owner labels are deleted (another
Kustomization may have taken one over), and never one annotated
`kustomize.toolkit.fluxcd.io/prune: disabled`.
"""

from __future__ import annotations

from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.errors import KubeError
from kidp_gitops.kube.ref import ObjRef
from kidp_gitops.kube.ssa import ResourceManager
from kidp_gitops.kustomize.apply import GROUP, OWNER_NAME, OWNER_NAMESPACE

PRUNE = f"{GROUP}/prune"


class PruneFailed(Exception):
    """Some objects could not be deleted. `deleted` were; `remaining` were not, and must
    stay in the inventory until a later prune confirms them gone."""

    def __init__(self, problems: list[str], deleted: list[ObjRef], remaining: list[ObjRef]):
        super().__init__("; ".join(problems))
        self.deleted = deleted
        self.remaining = remaining


async def prune(
    manager: ResourceManager,
    stale: list[ObjRef],
    owner: tuple[str, str],
    *,
    wait: bool = False,
) -> list[ObjRef]:
    """Delete `stale` objects owned by `owner` (name, namespace); return what was deleted.
    Namespaces go last, so their contents are not deleted twice. An object that is
    already gone, no longer ours, or protected from pruning is settled too: only the
    objects of a failed delete are left (`PruneFailed.remaining`)."""

    def ours(live: JSON) -> bool:
        meta = live.get("metadata") or {}
        labels = meta.get("labels") or {}
        return (labels.get(OWNER_NAME), labels.get(OWNER_NAMESPACE)) == owner and (
            meta.get("annotations") or {}
        ).get(PRUNE) != "disabled"

    ordered = sorted(stale, key=lambda r: r.kind == "Namespace")
    deleted: list[ObjRef] = []
    remaining: list[ObjRef] = []
    problems: list[str] = []
    for ref in ordered:
        try:
            if await manager.delete(ref, owned=ours, wait=wait):
                deleted.append(ref)
        except (KubeError, TimeoutError) as err:
            remaining.append(ref)
            problems.append(f"{ref}: {getattr(err, 'message', None) or err}")
    if problems:
        raise PruneFailed(problems, deleted, remaining)
    return deleted

"""Namespaces a test makes for itself and retires after.

A test's namespace is not deleted: its GitOps objects are (`retire`), and the engines
finalize them as they would in a deleted namespace — a Kustomization prunes what it
applied, a HelmRelease uninstalls its release — which ends every piece of work the
namespace gave them. What else it holds (ConfigMaps, Deployments, their kwok pods) stays,
inert, until the run's control plane goes. Deleting the namespace itself costs
kube-controller-manager a deletecollection and a list of every namespaced resource, 47
with kidp's CRDs, per pass, and another pass while content is left: two thirds of all
the requests the API servers served in a run of the suite (74,000 of 110,000). And it
takes up a deleted namespace only 5 s after the delete, always (so that every API server
of a cluster has seen it): a test that waited for its namespace to go waited that too. A test about
deleting a namespace deletes its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kidp_gitops.api import resources
from kidp_gitops.kube import ApiError, KubeClient
from tests.integration.wait import until

# The appliers first: their finalizers prune or uninstall; then what they read from.
_APPLIERS = (resources.KUSTOMIZATION, resources.HELM_RELEASE)
RETIRED = (*_APPLIERS, *(info for info in resources.ALL if info not in _APPLIERS))


@asynccontextmanager
async def temporary(kube: KubeClient, name: str | None = None) -> AsyncIterator[str]:
    """A new namespace (`name`, else a fresh one) for the block, retired after it."""
    name = name or f"t-{uuid.uuid4().hex[:10]}"
    await kube.create("/api/v1/namespaces", {"metadata": {"name": name}})
    try:
        yield name
    finally:
        await retire(kube, name)


async def retire(kube: KubeClient, name: str) -> None:
    """Delete every GitOps object of namespace `name`, not waited for (see above)."""
    for info in RETIRED:
        collection = f"/apis/{info.api_version()}/namespaces/{name}/{info.plural}"

        async def deleted(collection: str = collection) -> bool:
            try:
                await kube.delete(collection)
            except ApiError as err:
                if err.status == 429:  # its storage still starting (a new control plane)
                    return False
                if not err.not_found:  # a kind this cluster does not serve (uninstalled)
                    raise
            return True

        await until(deleted, 30, f"the GitOps objects at {collection} to be deleted")

"""One informer per (resource, namespace, selector) for the whole process.

Several controllers watch the same kinds (the Kustomization controller follows the
GitRepositories the source controller reconciles); sharing the informer means one
list, one watch and one copy in memory instead of one per controller.
"""

from __future__ import annotations

from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource


class InformerCache:
    def __init__(self, client: KubeClient):
        self._client = client
        self._informers: dict[tuple[str, str, str, str], Informer] = {}

    def informer(
        self, resource: Resource, *, namespace: str | None = None, label_selector: str | None = None
    ) -> Informer:
        key = (resource.api_version, resource.kind, namespace or "", label_selector or "")
        found = self._informers.get(key)
        if found is None:
            found = Informer(
                self._client, resource, namespace=namespace, label_selector=label_selector
            )
            self._informers[key] = found
        return found

    def informers(self) -> list[Informer]:
        """Every informer made so far, for readers that only look (the dashboard)."""
        return list(self._informers.values())

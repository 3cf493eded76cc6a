"""One informer per (resource, namespace, selectors, shape) for the whole process.

Several controllers watch the same kinds (the Kustomization controller follows the
GitRepositories the source controller reconciles); sharing the informer means one
list, one watch and one copy in memory instead of one per controller.

Sharding, as Flux shards: with `shard_selector` (`--watch-label-selector`, e.g.
`sharding.fluxcd.io/key=shard1`, or `!sharding.fluxcd.io/key` for the main instance),
the informers of Flux's own kinds (`*.toolkit.fluxcd.io`, `*.extensions.fluxcd.io`)
list and watch only the objects it selects, so each process reconciles its shard and
nothing else. Other kinds (managed objects, Secrets, Events) are not sharded.
"""

from __future__ import annotations

from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource

FLUX_GROUPS = (".toolkit.fluxcd.io", ".extensions.fluxcd.io")


class InformerCache:
    def __init__(self, client: KubeClient, *, shard_selector: str | None = None):
        self._client = client
        self.shard_selector = shard_selector
        self._informers: dict[tuple[str, str, str, str, str, bool], Informer] = {}

    def informer(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
    ) -> Informer:
        if label_selector is None and resource.group.endswith(FLUX_GROUPS):
            label_selector = self.shard_selector
        key = (
            resource.api_version,
            resource.kind,
            namespace or "",
            label_selector or "",
            field_selector or "",
            metadata_only,
        )
        found = self._informers.get(key)
        if found is None:
            found = Informer(
                self._client,
                resource,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                metadata_only=metadata_only,
            )
            self._informers[key] = found
        return found

    def informers(self) -> list[Informer]:
        """Every informer of whole objects made so far, for readers that only look (the
        dashboard); metadata-only ones hold no content to show."""
        return [i for i in self._informers.values() if not i.metadata_only]

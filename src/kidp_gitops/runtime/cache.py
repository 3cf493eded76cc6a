"""One informer per (resource, namespace, selectors, shape) for the whole process.

Several controllers watch the same kinds (the Kustomization controller follows the
GitRepositories the source controller reconciles); sharing the informer means one
list, one watch and one copy in memory instead of one per controller.

Sharding, as Flux shards: with `shard_selector` (`--watch-label-selector`, e.g.
`sharding.fluxcd.io/key=shard1`, or `!sharding.fluxcd.io/key` for the main instance),
the informer of each kind a controller reconciles (`own`) lists and watches only the
objects it selects, so each process reconciles its shard and nothing else. What a
controller only follows (the sources of Kustomizations, the releases they depend on)
is watched whole: a Kustomization of shard1 hears of a new artifact of a source that
another shard reconciles, as Flux's controllers shard their own kind only.

What the cache holds of `managedFields` is who wrote and how, not which fields
(`without_field_sets`, unless an informer asks for another `transform`): nothing reads
field sets from the cache — a take-over reads the object fresh — and they are often the
larger part of an object held (5 of a Kustomization's 12 KiB).
"""

from __future__ import annotations

from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.informer import Informer, Keep, Transform, without_field_sets
from kidp_gitops.kube.mapper import Resource


class InformerCache:
    def __init__(self, client: KubeClient, *, shard_selector: str | None = None):
        self._client = client
        self.shard_selector = shard_selector
        self._informers: dict[
            tuple[str, str, str, str, str, bool, Keep | None, Transform | None], Informer
        ] = {}

    def informer(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        keep: Keep | None = None,
        transform: Transform | None = None,
    ) -> Informer:
        """The informer of these arguments, shared: `keep` and `transform` (see
        kube/informer) are part of its identity, so pass the same functions to share."""
        if transform is None and not metadata_only:
            transform = without_field_sets  # (the module docstring says why)
        key = (
            resource.api_version,
            resource.kind,
            namespace or "",
            label_selector or "",
            field_selector or "",
            metadata_only,
            keep,
            transform,
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
                keep=keep,
                transform=transform,
            )
            self._informers[key] = found
        return found

    def own(self, resource: Resource, *, namespace: str | None = None) -> Informer:
        """The informer of a kind a controller reconciles: its shard's objects only."""
        return self.informer(resource, namespace=namespace, label_selector=self.shard_selector)

    def informers(self) -> list[Informer]:
        """Every informer of whole objects made so far, for readers that only look (the
        dashboard); metadata-only ones hold no content to show."""
        return [i for i in self._informers.values() if not i.metadata_only]

    async def stop(self) -> None:
        """Stop every informer made so far (a remote cluster's cache, when it closes)."""
        for informer in self._informers.values():
            await informer.stop()
        self._informers.clear()

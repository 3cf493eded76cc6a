"""The dashboard's view of the cluster: the engine's informer cache, read only.

Where it fits: the controllers fill one `InformerCache` (their own kinds, the objects
each Kustomization applied, Events); the dashboard reads the same stores, so loading a
page sends no request to the API server. An object no informer holds (a kind nothing
watches yet) reads as missing rather than costing a request.
"""

from __future__ import annotations

from collections.abc import Iterator

from kidp_gitops.dashboard import view
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.informer import Informer, object_key
from kidp_gitops.kustomize.inventory import ObjRef
from kidp_gitops.runtime.cache import InformerCache
from kidp_gitops.views import kinds


class CacheReader:
    def __init__(self, cache: InformerCache):
        self._cache = cache

    def all_informers(self) -> list[Informer]:
        return self._cache.informers()

    def informers_of(self, group: str, kind: str) -> Iterator[Informer]:
        for informer in self._cache.informers():
            if informer.resource.group == group and informer.resource.kind == kind:
                yield informer

    def flux_informers(self) -> Iterator[Informer]:
        for informer in self._cache.informers():
            res = informer.resource
            if res.kind in view.KINDS and res.group in kinds.GROUPS:
                yield informer

    def event_informers(self) -> Iterator[Informer]:
        for informer in self._cache.informers():
            if informer.resource.kind == "Event" and informer.resource.group == "":
                yield informer

    @property
    def synced(self) -> bool:
        return all(i.synced.is_set() for i in self.flux_informers())

    def objects(self) -> list[JSON]:
        """Every object of the dashboard's kinds, once each (several informers may
        hold one: a Kustomization applied by another is also in a drift informer)."""
        found: dict[tuple[str, str], JSON] = {}
        for informer in self.flux_informers():
            for obj in informer.objects():
                found[(informer.resource.kind, object_key(obj))] = obj
        order = {k: i for i, k in enumerate(view.KINDS)}
        return sorted(
            found.values(),
            key=lambda o: (
                order.get(str(o.get("kind")), 99),
                str(o["metadata"].get("namespace", "")),
                str(o["metadata"]["name"]),
            ),
        )

    def get(self, kind: str, namespace: str, name: str) -> JSON | None:
        for informer in self.flux_informers():
            if informer.resource.kind == kind:
                found = informer.get(namespace or None, name)
                if found is not None:
                    return found
        return None

    def live(self, ref: ObjRef) -> JSON | None:
        """The live object an inventory entry names, if an informer holds it."""
        for informer in self.informers_of(ref.group, ref.kind):
            found = informer.get(ref.namespace or None, ref.name)
            if found is not None:
                return found
        return None

    def events(self) -> list[JSON]:
        found: dict[str, JSON] = {}
        for informer in self.event_informers():
            for event in informer.objects():
                found[object_key(event)] = event
        return list(found.values())

"""Drift in seconds: watch what each Kustomization applied, and notice when someone
changes a field it manages.

After an apply the tracker remembers, per object, the manifest and the server's values
for the manifest's fields (`projection`). One informer per kind, filtered by the owner
label, reports every change; a change is drift only when the live object's projection
differs from the remembered one — a controller updating status or a defaulted field
is not. Drift enqueues the owning Kustomization at once, which corrects it (or, for a
protected object, reports it) without rebuilding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.informer import EventType, Informer
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.kustomize.apply import OWNER_NAME, OWNER_NAMESPACE, projection
from kidp_gitops.kustomize.inventory import ref_of
from kidp_gitops.runtime.cache import InformerCache
from kidp_gitops.runtime.controller import Controller
from kidp_gitops.runtime.reconcile import Request

Key = tuple[str, str, str, str]


@dataclass
class _Owned:
    manifests: dict[Key, JSON] = field(default_factory=dict)
    projections: dict[Key, object] = field(default_factory=dict)
    drifted: set[Key] = field(default_factory=set)


class DriftTracker:
    def __init__(self, mapper: RestMapper, cache: InformerCache):
        self._mapper = mapper
        self._cache = cache
        self._owners: dict[str, _Owned] = {}
        self._informers: dict[tuple[str, str], Informer] = {}
        self.controller: Controller | None = None

    def remember(self, owner: str, applied: list[tuple[JSON, JSON]]) -> None:
        """After an apply: (manifest, server's object) for every managed object."""
        owned = self._owners.setdefault(owner, _Owned())
        owned.manifests = {ref_of(m).key(): m for m, _ in applied}
        owned.projections = {ref_of(m).key(): projection(m, live) for m, live in applied}
        owned.drifted.clear()

    def refresh(self, owner: str, applied: list[tuple[JSON, JSON]]) -> None:
        """After re-applying some objects: their new state, and no drift for them."""
        owned = self._owners.setdefault(owner, _Owned())
        for manifest, live in applied:
            key = ref_of(manifest).key()
            owned.manifests[key] = manifest
            owned.projections[key] = projection(manifest, live)
            owned.drifted.discard(key)

    def forget(self, owner: str) -> None:
        self._owners.pop(owner, None)

    def drifted(self, owner: str) -> set[Key]:
        owned = self._owners.get(owner)
        return set(owned.drifted) if owned else set()

    def known(self, owner: str) -> bool:
        return owner in self._owners

    async def watch(self, objects: list[JSON]) -> None:
        """Make sure every kind in `objects` has an informer."""
        for obj in objects:
            kind_key = (str(obj["apiVersion"]), str(obj["kind"]))
            if kind_key in self._informers or self.controller is None:
                continue
            resource = await self._mapper.resource(*kind_key)
            informer = self._cache.informer(resource, label_selector=OWNER_NAME)
            self._informers[kind_key] = informer
            self.controller.watch(informer, self._on_change)

    def _on_change(self, event: EventType, obj: JSON) -> Iterator[Request]:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        name, namespace = labels.get(OWNER_NAME), labels.get(OWNER_NAMESPACE)
        if not name or not namespace:
            return
        owner = f"{namespace}/{name}"
        owned = self._owners.get(owner)
        if owned is None:
            return
        key = ref_of(obj).key()
        manifest = owned.manifests.get(key)
        if manifest is None:
            return
        gone = event == "DELETED" or bool((obj.get("metadata") or {}).get("deletionTimestamp"))
        if gone or projection(manifest, obj) != owned.projections.get(key):
            owned.drifted.add(key)
            yield Request(namespace, name)

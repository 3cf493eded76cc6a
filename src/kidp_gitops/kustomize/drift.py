"""Drift in seconds: watch what each Kustomization applied, and notice when someone
changes a field it manages.

After an apply the tracker remembers, per object, the manifest and the server's values
for the manifest's fields (`projection`). One informer per kind, filtered by the owner
label, reports every change; a change is drift only when the live object's projection
differs from the remembered one — a controller updating status or a defaulted field
is not. Drift enqueues the owning Kustomization at once, which corrects it (or, for a
protected object, reports it) without rebuilding.

The informers hold whole objects (a change is compared field by field), so they are
what the engine's memory grows with: they keep of `managedFields` only who wrote
(the cache's `without_field_sets`; the take-over check asks no more), and in a shard (`owners`,
the shard's own Kustomizations) only the objects of its own Kustomizations — every
shard watches every managed object, as the owner label is all they carry, and would
otherwise hold all of them. An object whose Kustomization moves into the shard is
missing from the store until it next changes or the watch lists again: `adopt` counts
it drifted, and the re-apply is a dry run that finds nothing to write.

After a restart the tracker knows nothing, and what the server answered to the last
apply is gone. When a Kustomization's status shows that its current build was applied
already, `adopt` takes the live objects of the informers' first list as the baseline
instead of applying again: an object that is missing, or that no longer holds every
value its manifest sets (`holds`), is drifted — changed while no engine watched — and
the reconciler re-applies it. A value the server only writes differently (`0.5` CPU
read back as `500m`) counts as drifted too; its re-apply is a dry run that finds
nothing to write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.compare import projection
from kidp_gitops.kube.informer import EventType, Informer
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.kustomize.apply import OWNER_NAME, OWNER_NAMESPACE, POLICY
from kidp_gitops.kustomize.inventory import ref_of
from kidp_gitops.runtime.cache import InformerCache
from kidp_gitops.runtime.controller import Watch
from kidp_gitops.runtime.reconcile import Request
from kidp_gitops.runtime.remote import Remote

Key = tuple[str, str, str, str]


@dataclass
class _Owned:
    manifests: dict[Key, JSON] = field(default_factory=dict)
    projections: dict[Key, object] = field(default_factory=dict)
    drifted: set[Key] = field(default_factory=set)


class DriftTracker:
    def __init__(self, mapper: RestMapper, cache: InformerCache, owners: Informer | None = None):
        """`owners`: the Kustomizations this process reconciles, when it reconciles only
        some (a shard); the objects of others are not held."""
        self._mapper = mapper
        self._cache = cache
        self._owners_cache = owners
        self._owners: dict[str, _Owned] = {}
        self._informers: dict[tuple[str, str], Informer] = {}
        self._watch: Watch | None = None
        """How the Kustomization controller watches an informer (`subscribe`)."""

    def subscribe(self, watch: Watch) -> None:
        """The controller's `watch` (a `runtime.controller.WatchSource`): each kind
        applied gets one informer, and its changes enqueue their owner."""
        self._watch = watch

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

    async def adopt(self, owner: str, manifests: list[JSON], timeout: float = 60.0) -> bool:
        """Instead of an apply (after a restart): compare `manifests` with the live
        objects the informers listed; mark drifted what is missing or differs. False
        when the informers could not list in time (then apply as usual)."""
        informers: list[Informer] = []
        for manifest in manifests:
            informer = self._informers.get((str(manifest["apiVersion"]), str(manifest["kind"])))
            if informer is None:
                return False
            informers.append(informer)
        try:
            async with asyncio.timeout(timeout):
                for informer in set(informers):
                    await informer.synced.wait()
        except TimeoutError:
            return False
        owned = _Owned()
        for manifest, informer in zip(manifests, informers, strict=True):
            ref = ref_of(manifest)
            key = ref.key()
            live = informer.get(ref.namespace or None, ref.name)
            owned.manifests[key] = manifest
            owned.projections[key] = projection(manifest, live) if live is not None else None
            mode = POLICY.mode(manifest)
            if mode == "Ignore" or (mode == "IfNotPresent" and live is not None):
                continue  # never applied over: nothing to compare
            if live is None or not holds(manifest, live) or POLICY.must_take_over(manifest, live):
                owned.drifted.add(key)
        self._owners[owner] = owned
        return True

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
            if kind_key in self._informers or self._watch is None:
                continue
            resource = await self._mapper.resource(*kind_key)
            if kind_key in self._informers:
                continue  # another reconcile added it meanwhile
            informer = self._cache.informer(
                resource,
                label_selector=OWNER_NAME,
                keep=self._ours if self._owners_cache is not None else None,
            )
            self._informers[kind_key] = informer
            self._watch(informer, self._on_change)

    def _ours(self, obj: JSON) -> bool:
        """Whether `obj` belongs to a Kustomization of this process's share."""
        assert self._owners_cache is not None
        labels = (obj.get("metadata") or {}).get("labels") or {}
        name, namespace = labels.get(OWNER_NAME), labels.get(OWNER_NAMESPACE)
        if not name or not namespace:
            return False
        return self._owners_cache.get(str(namespace), str(name)) is not None

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
        # A field kubectl added that Git does not set (a label) is outside the projection;
        # kubectl's entries in managedFields say it is there, and the re-apply that takes
        # them over removes them, so this cannot repeat.
        if (
            gone
            or projection(manifest, obj) != owned.projections.get(key)
            or POLICY.must_take_over(manifest, obj)
        ):
            owned.drifted.add(key)
            yield Request(namespace, name)


class RemoteDrift:
    """A drift tracker per remote cluster (`spec.kubeConfig`), its informers on that
    cluster: what was applied there is watched there, as locally. A tracker goes with
    its remote (closed when no object uses it any more)."""

    def __init__(self) -> None:
        self._trackers: dict[str, DriftTracker] = {}
        self._follow: Watch | None = None

    def subscribe(self, follow: Watch) -> None:
        """The controller's `follow`: remote informers enqueue, and are the remote's."""
        self._follow = follow

    def of(self, remote: Remote) -> DriftTracker:
        found = self._trackers.get(remote.digest)
        if found is None:
            found = DriftTracker(remote.mapper, remote.cache)
            if self._follow is not None:
                found.subscribe(self._follow)
            self._trackers[remote.digest] = found
            digest = remote.digest

            def forget() -> None:
                self._trackers.pop(digest, None)

            remote.on_close(forget)
        return found


def holds(desired: Any, actual: Any, top: bool = True) -> bool:
    """Whether `actual` has every value `desired` sets: maps may hold more keys, lists
    must have as many items, each holding its counterpart (the server adds defaults to
    list items, e.g. a container's `terminationMessagePath`); `status` is not compared."""
    if isinstance(desired, dict):
        return isinstance(actual, dict) and all(
            holds(value, actual.get(key), top=False)
            for key, value in desired.items()
            if not (top and key == "status")
        )
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(desired) == len(actual)
            and all(holds(d, a, top=False) for d, a in zip(desired, actual, strict=True))
        )
    if isinstance(desired, bool) or isinstance(actual, bool):
        return desired is actual  # True is not 1
    return bool(desired == actual)

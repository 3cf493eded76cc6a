"""Secrets and ConfigMaps a spec names are inputs: a change to one reconciles every
object that names it, within seconds.

    refs = await References.of(cache, mapper, namespace)
    refs.watch(controller, events, keys_of)   # keys_of(obj) -> ["Secret/ns/name", …]
    refs.versions(keys)                       # for a reconciler's "nothing changed" rule

The Kustomization controller names its `postBuild.substituteFrom` and
`decryption.secretRef`, the HelmRelease controller its `valuesFrom`. Each controller
indexes its objects by what they name; a change of a named object records a Normal
`InputChanged` event on each object that names it (kind/namespace/name, never a value)
and enqueues it. Suspended objects, and objects being deleted, are left alone.

Flux (2.7) reacts only to objects labelled `reconcile.fluxcd.io/watch: Enabled`, to keep
its caches small; we react to every named one, labelled or not, so the label changes
nothing here. How to follow every Secret cheaply:

- a label-selected watch (Flux's) misses every object nobody labelled: no;
- a full informer of Secrets would hold every value in the cluster in memory (Helm's
  release storage alone is megabytes): no;
- one watch per named object (a `metadata.name` field selector) costs a long-lived
  connection each, and the client's pool holds 100: a few hundred references would
  starve every other request; no;
- so one metadata-only watch per kind: two connections per process, whatever the number
  of references, with names and resourceVersions in memory and no values. It sees every
  change of every Secret and ConfigMap in the watched namespaces; an unnamed one costs a
  dict lookup per controller. Helm's release storage (type `helm.sh/release.v1`, written
  on every release, the largest and busiest set, never a values source) is filtered out
  by the server, as Flux's `--watch-configs-label-selector=owner!=helm` leaves it out.

At idle, each watch costs one request per ~5 minutes (its timeout) and no write. The
data is read only when a reconcile builds; the resourceVersions held here let an
interval or requested reconcile notice a change it was not told about (`versions`).

Every process holds every Secret and ConfigMap of the namespaces it watches this way,
its shard's or not (a reference is known only once an object naming it is), so each
is held as its name, namespace and resourceVersion alone (`_identity`): half what its
metadata takes (labels, annotations, uid, timestamps), ~0.6 KiB instead of ~1.3 KiB —
at 10,000 namespaces (each with its `kube-root-ca.crt`) and 10,000 applied ConfigMaps,
12 MiB instead of 24 in each process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.informer import EventType, Informer
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.runtime.cache import InformerCache
from kidp_gitops.runtime.controller import Controller, KeyMapper
from kidp_gitops.runtime.events import EventRecorder
from kidp_gitops.runtime.reconcile import Request

INDEX = "references"
CHANGED = "InputChanged"
_FIELD_SELECTORS = {"Secret": "type!=helm.sh/release.v1", "ConfigMap": None}
_VERBS: dict[EventType, str] = {"ADDED": "created", "MODIFIED": "changed", "DELETED": "deleted"}


def keys(namespace: str, refs: Iterable[Mapping[str, Any]], kind: str = "Secret") -> list[str]:
    """`Kind/namespace/name` of each reference (`{kind?, name}`, `kind` when it names
    none) made by an object of `namespace`: references never leave their namespace."""
    return [
        f"{ref.get('kind') or kind}/{namespace}/{ref['name']}"
        for ref in refs
        if isinstance(ref, Mapping) and ref.get("name")
    ]


class References:
    def __init__(self, informers: Mapping[str, Informer]):
        self._informers = dict(informers)

    @classmethod
    async def of(
        cls, cache: InformerCache, mapper: RestMapper, namespace: str | None = None
    ) -> References:
        """The process's metadata-only Secret and ConfigMap informers (shared by the
        controllers through `cache`)."""
        informers: dict[str, Informer] = {}
        for kind, field_selector in _FIELD_SELECTORS.items():
            resource = await mapper.resource("v1", kind)
            informers[kind] = cache.informer(
                resource,
                namespace=namespace,
                field_selector=field_selector,
                metadata_only=True,
                transform=_identity,
            )
        return cls(informers)

    def versions(self, names: Iterable[str]) -> str | None:
        """The resourceVersions of the named objects (`-` for a missing one), as one
        string that changes when any of them does; None while the cache has not listed
        yet (then nothing may be called unchanged)."""
        parts: list[str] = []
        for key in sorted(set(names)):
            kind, namespace, name = key.split("/", 2)
            informer = self._informers.get(kind)
            if informer is None or not informer.synced.is_set():
                return None
            found = informer.get(namespace, name)
            parts.append(f"{key}@{found['metadata'].get('resourceVersion') if found else '-'}")
        return " ".join(parts)

    def watch(
        self, controller: Controller, events: EventRecorder, keys_of: Callable[[JSON], list[str]]
    ) -> None:
        """Reconcile `controller`'s objects when an object they name (`keys_of`) changes.
        Call before the informers start."""
        controller.informer.add_indexer(INDEX, keys_of)
        for kind, informer in self._informers.items():
            controller.watch(informer, _changes(kind, informer, controller.informer, events))


def _identity(obj: JSON) -> None:
    """An informer's `transform`: of the metadata, only what `versions` and `_changes`
    read (the module docstring says why)."""
    meta = obj.get("metadata") or {}
    obj["metadata"] = {k: meta[k] for k in ("name", "namespace", "resourceVersion") if k in meta}


def _changes(kind: str, informer: Informer, owners: Informer, events: EventRecorder) -> KeyMapper:
    def to_requests(event: EventType, obj: JSON) -> Iterator[Request]:
        if not informer.synced.is_set():
            return  # the first list: what exists was there before we looked
        meta = obj["metadata"]
        key = f"{kind}/{meta.get('namespace')}/{meta['name']}"
        for owner in owners.by_index(INDEX, key):
            if _at_rest(owner):
                continue
            events.record(owner, "Normal", CHANGED, f"{key} {_VERBS[event]}: reconciling")
            yield Request(owner["metadata"]["namespace"], owner["metadata"]["name"])

    return to_requests


def _at_rest(owner: JSON) -> bool:
    """Suspended, or being deleted (a namespace's deletion removes both): nothing to
    rebuild, nothing to announce."""
    meta, spec = owner["metadata"], owner.get("spec") or {}
    return bool(spec.get("suspend") or meta.get("deletionTimestamp"))

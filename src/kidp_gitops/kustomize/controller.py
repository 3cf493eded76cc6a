"""Wiring of the Kustomization controller: Kustomizations, the sources they read (a new
artifact reconciles its Kustomizations at once), their dependencies, Kustomizations or
HelmReleases (a dependency that turns Ready releases its dependents at once), the
Secrets and ConfigMaps they name (substitution variables, decryption keys) and the
objects they manage (drift)."""

from __future__ import annotations

from collections.abc import Iterable

from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.informer import EventType, Informer
from kidp_gitops.kube.mapper import UnknownKind
from kidp_gitops.kustomize.drift import DriftTracker, RemoteDrift
from kidp_gitops.kustomize.reconciler import (
    KIND,
    SOURCE_KINDS,
    KustomizationReconciler,
    input_keys,
)
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.controller import Controller
from kidp_gitops.runtime.reconcile import Request
from kidp_gitops.runtime.references import References
from kidp_gitops.storage.artifacts import ArtifactStore

API_VERSION = "kustomize.toolkit.fluxcd.io/v1"
BY_SOURCE = "source"
BY_DEPENDENCY = "dependency"


def _source_key(obj: JSON) -> list[str]:
    meta, ref = obj["metadata"], ((obj.get("spec") or {}).get("sourceRef") or {})
    ns = ref.get("namespace") or meta.get("namespace")
    return [f"{ref.get('kind')}/{ns}/{ref.get('name')}"] if ref else []


def _dependency_keys(obj: JSON) -> list[str]:
    meta = obj["metadata"]
    deps = (obj.get("spec") or {}).get("dependsOn") or []
    return [
        f"{d.get('kind', KIND)}/{d.get('namespace') or meta.get('namespace')}/{d['name']}"
        for d in deps
        if d.get("name")
    ]


async def kustomization_controller(ctx: Context, store: ArtifactStore | None) -> Controller:
    mapper, cache, namespace = ctx.mapper, ctx.cache, ctx.namespace
    resource = await mapper.resource(API_VERSION, KIND)
    workdir = ctx.data_dir / "kustomize"
    workdir.mkdir(parents=True, exist_ok=True)
    informer = cache.own(resource, namespace=namespace)
    # A shard holds the applied objects of its own Kustomizations only.
    drift = DriftTracker(mapper, cache, informer if cache.shard_selector else None)
    remote_drift = RemoteDrift()  # what Kustomizations with kubeConfig applied elsewhere
    # The sources a Kustomization may read, by kind: their artifacts come from the cache.
    sources = {
        kind: cache.informer(
            await mapper.resource("source.toolkit.fluxcd.io/v1", kind), namespace=namespace
        )
        for kind in SOURCE_KINDS
    }
    try:  # HelmReleases a Kustomization may depend on (absent without Helm's CRD)
        helm = await mapper.resource("helm.toolkit.fluxcd.io/v2", "HelmRelease")
        releases: Informer | None = cache.informer(helm, namespace=namespace)
    except UnknownKind:
        releases = None
    references = await References.of(cache, mapper, namespace)
    reconciler = KustomizationReconciler(
        ctx,
        resource,
        informer,
        store,
        workdir,
        drift,
        remote_drift=remote_drift,
        sources=sources,
        releases=releases,
        watched=references,
    )
    informer.add_indexer(BY_SOURCE, _source_key)
    informer.add_indexer(BY_DEPENDENCY, _dependency_keys)
    controller = Controller(
        "kustomization", informer, reconciler, concurrency=ctx.concurrency, sources=[drift]
    )
    remote_drift.subscribe(controller.follow)
    references.watch(controller, ctx.events, input_keys)

    def requests(index: str, key: str) -> Iterable[Request]:
        for ks in informer.by_index(index, key):
            yield Request(ks["metadata"]["namespace"], ks["metadata"]["name"])

    def from_source(event: EventType, obj: JSON) -> Iterable[Request]:
        meta = obj["metadata"]
        return requests(BY_SOURCE, f"{obj.get('kind')}/{meta.get('namespace')}/{meta['name']}")

    def from_dependency(event: EventType, obj: JSON) -> Iterable[Request]:
        meta = obj["metadata"]
        return requests(BY_DEPENDENCY, f"{obj.get('kind')}/{meta.get('namespace')}/{meta['name']}")

    for source in sources.values():
        controller.watch(source, from_source)
    controller.watch(informer, from_dependency)
    if releases is not None:
        controller.watch(releases, from_dependency)
    return controller

"""Wiring of the source controller: GitRepository objects → reconciler, and the
includes between them (a new artifact of an included repository rebuilds the
repositories that include it); HelmRepository objects → reconciler; HelmChart objects →
reconciler, rebuilt when the GitRepository, Bucket or HelmRepository they read changes;
OCIRepository objects → reconciler; Bucket objects → reconciler; ArtifactGenerators →
reconciler, rebuilt when a source they read changes or an ExternalArtifact they own does."""

from __future__ import annotations

from collections.abc import Iterable

from kidp_gitops.api import generator as generator_api
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.informer import EventType, Informer
from kidp_gitops.kube.mapper import UnknownKind
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.controller import Controller
from kidp_gitops.runtime.reconcile import Request
from kidp_gitops.source import (
    artifactgenerator,
    bucket,
    git,
    helmchart,
    helmpackage,
    helmrepository,
    ocirepository,
)
from kidp_gitops.source.gitrepository import KIND, GitRepositoryReconciler
from kidp_gitops.storage.artifacts import ArtifactStore

API_VERSION = "source.toolkit.fluxcd.io/v1"
INCLUDED_BY = "includedRepository"
BY_CHART_SOURCE = "chartSource"


def _included(obj: JSON) -> list[str]:
    ns = obj["metadata"].get("namespace", "")
    includes = ((obj.get("spec") or {}).get("include")) or []
    return [f"{ns}/{i['repository']['name']}" for i in includes if i.get("repository")]


async def gitrepository_controller(ctx: Context, store: ArtifactStore) -> Controller:
    resource = await ctx.mapper.resource(API_VERSION, KIND)
    (ctx.data_dir / "git").mkdir(parents=True, exist_ok=True)
    (ctx.data_dir / "work").mkdir(parents=True, exist_ok=True)
    informer = ctx.cache.own(resource, namespace=ctx.namespace)
    informer.add_indexer(INCLUDED_BY, _included)
    reconciler = GitRepositoryReconciler(
        ctx, resource, informer, git.Git(ctx.data_dir / "git"), store, ctx.data_dir / "work"
    )
    controller = Controller("gitrepository", informer, reconciler, concurrency=ctx.concurrency)

    def includers(event: EventType, obj: JSON) -> Iterable[Request]:
        meta = obj["metadata"]
        for other in informer.by_index(INCLUDED_BY, f"{meta.get('namespace')}/{meta['name']}"):
            yield Request(other["metadata"].get("namespace", ""), other["metadata"]["name"])

    controller.watch(informer, includers)
    return controller


async def helmrepository_controller(ctx: Context, store: ArtifactStore) -> Controller:
    resource = await ctx.mapper.resource(API_VERSION, helmrepository.KIND)
    workdir = ctx.data_dir / "helm-work"
    workdir.mkdir(parents=True, exist_ok=True)
    informer = ctx.cache.own(resource, namespace=ctx.namespace)
    reconciler = helmrepository.HelmRepositoryReconciler(ctx, resource, informer, store, workdir)
    return Controller("helmrepository", informer, reconciler, concurrency=ctx.concurrency)


async def ocirepository_controller(ctx: Context, store: ArtifactStore) -> Controller:
    resource = await ctx.mapper.resource(API_VERSION, ocirepository.KIND)
    workdir = ctx.data_dir / "oci-work"
    workdir.mkdir(parents=True, exist_ok=True)
    informer = ctx.cache.own(resource, namespace=ctx.namespace)
    reconciler = ocirepository.OCIRepositoryReconciler(ctx, resource, informer, store, workdir)
    return Controller("ocirepository", informer, reconciler, concurrency=ctx.concurrency)


async def bucket_controller(ctx: Context, store: ArtifactStore) -> Controller:
    resource = await ctx.mapper.resource(API_VERSION, bucket.KIND)
    workdir = ctx.data_dir / "bucket-work"
    workdir.mkdir(parents=True, exist_ok=True)
    informer = ctx.cache.own(resource, namespace=ctx.namespace)
    reconciler = bucket.BucketReconciler(ctx, resource, informer, store, workdir)
    return Controller("bucket", informer, reconciler, concurrency=ctx.concurrency)


def _chart_source(obj: JSON) -> list[str]:
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    ns = obj["metadata"].get("namespace", "")
    return [f"{ref.get('kind')}/{ns}/{ref.get('name')}"] if ref.get("name") else []


async def helmchart_controller(
    ctx: Context, store: ArtifactStore, *, helm: helmpackage.HelmFinder
) -> Controller:
    """`helm` finds the helm binary (the engine passes the Helm controller's finder:
    controllers do not import each other); it is called on the first build that needs it."""
    resource = await ctx.mapper.resource(API_VERSION, helmchart.KIND)
    workdir = ctx.data_dir / "helm-work"
    workdir.mkdir(parents=True, exist_ok=True)
    sources = {
        kind: await ctx.mapper.resource(API_VERSION, kind)
        for kind in (KIND, bucket.KIND, helmrepository.KIND)
    }
    informer = ctx.cache.own(resource, namespace=ctx.namespace)
    informer.add_indexer(BY_CHART_SOURCE, _chart_source)
    reconciler = helmchart.HelmChartReconciler(
        ctx,
        resource,
        informer,
        store,
        workdir,
        helmpackage.Helm(helm, workdir),
        sources,
    )
    controller = Controller("helmchart", informer, reconciler, concurrency=ctx.concurrency)

    for kind, source in sources.items():

        def charts(event: EventType, obj: JSON, kind: str = kind) -> Iterable[Request]:
            meta = obj["metadata"]
            key = f"{kind}/{meta.get('namespace')}/{meta['name']}"
            for chart in informer.by_index(BY_CHART_SOURCE, key):
                yield Request(chart["metadata"].get("namespace", ""), chart["metadata"]["name"])

        controller.watch(ctx.cache.informer(source, namespace=ctx.namespace), charts)
    return controller


BY_GENERATOR_SOURCE = "generatorSource"
BY_UID = "uid"
GENERATOR_SOURCE_KINDS = (
    "GitRepository",
    "OCIRepository",
    "HelmChart",
    "Bucket",
    "ExternalArtifact",
)


def _generator_sources(obj: JSON) -> list[str]:
    ns = obj["metadata"].get("namespace", "")
    return [
        f"{s.get('kind')}/{s.get('namespace') or ns}/{s.get('name')}"
        for s in (obj.get("spec") or {}).get("sources") or []
        if isinstance(s, dict) and s.get("name")
    ]


def _uid(obj: JSON) -> list[str]:
    uid = obj["metadata"].get("uid")
    return [str(uid)] if uid else []


async def artifactgenerator_controller(ctx: Context, store: ArtifactStore) -> Controller:
    resource = await ctx.mapper.resource(
        generator_api.ArtifactGenerator.RESOURCE.api_version(), artifactgenerator.KIND
    )
    workdir = ctx.data_dir / "generator-work"
    workdir.mkdir(parents=True, exist_ok=True)
    # The source kinds the cluster serves (a CRD missing, its kind is left out): shared
    # informers.
    sources: dict[str, Informer] = {}
    for kind in GENERATOR_SOURCE_KINDS:
        try:
            found = await ctx.mapper.resource(API_VERSION, kind)
        except UnknownKind:
            continue
        sources[kind] = ctx.cache.informer(found, namespace=ctx.namespace)
    artifacts = await ctx.mapper.resource(API_VERSION, artifactgenerator.EXTERNAL_ARTIFACT)
    informer = ctx.cache.own(resource, namespace=ctx.namespace)
    informer.add_indexer(BY_GENERATOR_SOURCE, _generator_sources)
    informer.add_indexer(BY_UID, _uid)
    reconciler = artifactgenerator.ArtifactGeneratorReconciler(
        ctx, resource, informer, store, workdir, sources, artifacts
    )
    controller = Controller("artifactgenerator", informer, reconciler, concurrency=ctx.concurrency)

    def requests(index: str, key: str) -> Iterable[Request]:
        for gen in informer.by_index(index, key):
            yield Request(gen["metadata"].get("namespace", ""), gen["metadata"]["name"])

    for kind, source in sources.items():

        def readers(event: EventType, obj: JSON, kind: str = kind) -> Iterable[Request]:
            meta = obj["metadata"]
            yield from requests(
                BY_GENERATOR_SOURCE, f"{kind}/{meta.get('namespace')}/{meta['name']}"
            )
            if kind == artifactgenerator.EXTERNAL_ARTIFACT:
                # One of ours changed or went (drift): its generator puts it back.
                owner = (meta.get("labels") or {}).get(generator_api.GENERATOR_LABEL)
                if owner:
                    yield from requests(BY_UID, owner)

        controller.watch(source, readers)
    return controller

"""Wiring of the source controller: GitRepository objects → reconciler, and the
includes between them (a new artifact of an included repository rebuilds the
repositories that include it); HelmRepository objects → reconciler; HelmChart objects →
reconciler, rebuilt when the GitRepository or HelmRepository they read changes."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.informer import EventType
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.runtime.cache import InformerCache
from kidp_gitops.runtime.controller import Controller
from kidp_gitops.runtime.events import EventRecorder
from kidp_gitops.runtime.reconcile import Request
from kidp_gitops.source import git, helmchart, helmpackage, helmrepository
from kidp_gitops.source.gitrepository import KIND, GitRepositoryReconciler
from kidp_gitops.storage.artifacts import ArtifactStore

API_VERSION = "source.toolkit.fluxcd.io/v1"
INCLUDED_BY = "includedRepository"
BY_CHART_SOURCE = "chartSource"


def _included(obj: JSON) -> list[str]:
    ns = obj["metadata"].get("namespace", "")
    includes = ((obj.get("spec") or {}).get("include")) or []
    return [f"{ns}/{i['repository']['name']}" for i in includes if i.get("repository")]


async def gitrepository_controller(
    client: KubeClient,
    mapper: RestMapper,
    events: EventRecorder,
    store: ArtifactStore,
    data_dir: Path,
    *,
    cache: InformerCache,
    namespace: str | None = None,
    concurrency: int = 4,
) -> Controller:
    resource = await mapper.resource(API_VERSION, KIND)
    (data_dir / "git").mkdir(parents=True, exist_ok=True)
    (data_dir / "work").mkdir(parents=True, exist_ok=True)
    reconciler = GitRepositoryReconciler(
        client, resource, events, git.Git(data_dir / "git"), store, data_dir / "work"
    )
    informer = cache.own(resource, namespace=namespace)
    informer.add_indexer(INCLUDED_BY, _included)
    controller = Controller("gitrepository", informer, reconciler, concurrency=concurrency)

    def includers(event: EventType, obj: JSON) -> Iterable[Request]:
        meta = obj["metadata"]
        for other in informer.by_index(INCLUDED_BY, f"{meta.get('namespace')}/{meta['name']}"):
            yield Request(other["metadata"].get("namespace", ""), other["metadata"]["name"])

    controller.watch(informer, includers)
    return controller


async def helmrepository_controller(
    client: KubeClient,
    mapper: RestMapper,
    events: EventRecorder,
    store: ArtifactStore,
    data_dir: Path,
    *,
    cache: InformerCache,
    namespace: str | None = None,
    concurrency: int = 4,
) -> Controller:
    resource = await mapper.resource(API_VERSION, helmrepository.KIND)
    workdir = data_dir / "helm-work"
    workdir.mkdir(parents=True, exist_ok=True)
    reconciler = helmrepository.HelmRepositoryReconciler(client, resource, events, store, workdir)
    informer = cache.own(resource, namespace=namespace)
    return Controller("helmrepository", informer, reconciler, concurrency=concurrency)


def _chart_source(obj: JSON) -> list[str]:
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    ns = obj["metadata"].get("namespace", "")
    return [f"{ref.get('kind')}/{ns}/{ref.get('name')}"] if ref.get("name") else []


async def helmchart_controller(
    client: KubeClient,
    mapper: RestMapper,
    events: EventRecorder,
    store: ArtifactStore,
    data_dir: Path,
    *,
    cache: InformerCache,
    helm: helmpackage.HelmFinder,
    namespace: str | None = None,
    concurrency: int = 4,
) -> Controller:
    """`helm` finds the helm binary (the engine passes the Helm controller's finder:
    controllers do not import each other); it is called on the first build that needs it."""
    resource = await mapper.resource(API_VERSION, helmchart.KIND)
    workdir = data_dir / "helm-work"
    workdir.mkdir(parents=True, exist_ok=True)
    sources = {
        kind: await mapper.resource(API_VERSION, kind) for kind in (KIND, helmrepository.KIND)
    }
    reconciler = helmchart.HelmChartReconciler(
        client,
        resource,
        events,
        store,
        workdir,
        helmpackage.Helm(helm, workdir),
        sources,
    )
    informer = cache.own(resource, namespace=namespace)
    informer.add_indexer(BY_CHART_SOURCE, _chart_source)
    controller = Controller("helmchart", informer, reconciler, concurrency=concurrency)

    for kind, source in sources.items():

        def charts(event: EventType, obj: JSON, kind: str = kind) -> Iterable[Request]:
            meta = obj["metadata"]
            key = f"{kind}/{meta.get('namespace')}/{meta['name']}"
            for chart in informer.by_index(BY_CHART_SOURCE, key):
                yield Request(chart["metadata"].get("namespace", ""), chart["metadata"]["name"])

        controller.watch(cache.informer(source, namespace=namespace), charts)
    return controller

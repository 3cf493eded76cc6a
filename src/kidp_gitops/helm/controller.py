"""Wiring of the HelmRelease controller: HelmReleases, the HelmCharts they read (a new
chart artifact reconciles its release at once), the Secrets and ConfigMaps their
`valuesFrom` names (a change upgrades the release at once) and their dependencies (a
dependency that turns Ready releases its dependents at once)."""

from __future__ import annotations

from collections.abc import Iterable

from kidp_gitops.helm import chart
from kidp_gitops.helm.reconciler import KIND, HelmReleaseReconciler
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.informer import EventType
from kidp_gitops.runtime import references
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.controller import Controller
from kidp_gitops.runtime.reconcile import Request
from kidp_gitops.storage.artifacts import ArtifactStore

API_VERSION = "helm.toolkit.fluxcd.io/v2"
BY_CHART_REF = "chartRef"
BY_DEPENDENCY = "dependency"
ARTIFACT_KINDS = (chart.OCI_REPOSITORY, chart.EXTERNAL_ARTIFACT)
"""Sources a chartRef reads the artifact of as it is."""


def _chart_ref_key(obj: JSON) -> list[str]:
    """`ns/name` of a chartRef to a HelmChart, `<Kind>/ns/name` of one to an
    OCIRepository or an ExternalArtifact."""
    meta, ref = obj["metadata"], ((obj.get("spec") or {}).get("chartRef") or {})
    key = f"{ref.get('namespace') or meta.get('namespace')}/{ref.get('name')}"
    if ref.get("kind") in ARTIFACT_KINDS:
        return [f"{ref.get('kind')}/{key}"]
    return [key] if ref.get("kind") == chart.KIND else []


def _dependency_keys(obj: JSON) -> list[str]:
    meta = obj["metadata"]
    deps = (obj.get("spec") or {}).get("dependsOn") or []
    return [
        f"{d.get('namespace') or meta.get('namespace')}/{d['name']}" for d in deps if d.get("name")
    ]


def _values_keys(obj: JSON) -> list[str]:
    """The Secrets and ConfigMaps of `valuesFrom`, and the kubeconfig of a remote (a
    Secret, or the ConfigMap of workload identity)."""
    spec, namespace = obj.get("spec") or {}, obj["metadata"]["namespace"]
    kube_ref = (spec.get("kubeConfig") or {}).get("secretRef")
    kube_cm = (spec.get("kubeConfig") or {}).get("configMapRef")
    found = references.keys(namespace, spec.get("valuesFrom") or [])
    found += references.keys(namespace, [kube_cm] if kube_cm else [], "ConfigMap")
    return found + references.keys(namespace, [kube_ref] if kube_ref else [])


async def helmrelease_controller(ctx: Context, store: ArtifactStore | None) -> Controller:
    mapper, cache, namespace = ctx.mapper, ctx.cache, ctx.namespace
    resource = await mapper.resource(API_VERSION, KIND)
    charts = await mapper.resource(chart.API_VERSION, chart.KIND)
    workdir = ctx.data_dir / "helm"
    workdir.mkdir(parents=True, exist_ok=True)
    informer = cache.own(resource, namespace=namespace)
    informer.add_indexer(BY_CHART_REF, _chart_ref_key)
    informer.add_indexer(BY_DEPENDENCY, _dependency_keys)
    chart_informer = cache.informer(charts, namespace=namespace)
    reconciler = HelmReleaseReconciler(ctx, resource, informer, charts, store, workdir)
    controller = Controller("helmrelease", informer, reconciler, concurrency=ctx.concurrency)
    controller.on_stop(reconciler.helm.close)  # the helm helper ends with the controller

    def from_chart(event: EventType, obj: JSON) -> Iterable[Request]:
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        name, ns = labels.get(chart.NAME_LABEL), labels.get(chart.NAMESPACE_LABEL)
        if name and ns:
            yield Request(ns, name)
        for hr in informer.by_index(BY_CHART_REF, f"{meta.get('namespace')}/{meta['name']}"):
            yield Request(hr["metadata"]["namespace"], hr["metadata"]["name"])

    def from_dependency(event: EventType, obj: JSON) -> Iterable[Request]:
        meta = obj["metadata"]
        for hr in informer.by_index(BY_DEPENDENCY, f"{meta.get('namespace')}/{meta['name']}"):
            yield Request(hr["metadata"]["namespace"], hr["metadata"]["name"])

    controller.watch(chart_informer, from_chart)
    for kind in ARTIFACT_KINDS:

        def from_artifact(event: EventType, obj: JSON, kind: str = kind) -> Iterable[Request]:
            meta = obj["metadata"]
            key = f"{kind}/{meta.get('namespace')}/{meta['name']}"
            for hr in informer.by_index(BY_CHART_REF, key):
                yield Request(hr["metadata"]["namespace"], hr["metadata"]["name"])

        source = await mapper.resource(chart.API_VERSION, kind)
        controller.watch(cache.informer(source, namespace=namespace), from_artifact)
    controller.watch(informer, from_dependency)
    watched = await references.References.of(cache, mapper, namespace)
    watched.watch(controller, ctx.events, _values_keys)
    return controller

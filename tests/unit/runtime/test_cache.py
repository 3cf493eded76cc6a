"""What the process's informer cache holds, and that the controllers share one informer
per kind: fed by a stub server's list (the watch itself is proven on a real one)."""

from __future__ import annotations

from typing import cast

from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.informer import without_field_sets
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.runtime.cache import InformerCache
from tests.unit.kube.stubserver import Server

KS = Resource("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations", True)
HR = Resource("helm.toolkit.fluxcd.io", "v2", "HelmRelease", "helmreleases", True)


def kustomization() -> JSON:
    written = [
        {"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:spec": {"f:interval": {}, "f:path": {}}}},
        {"manager": "kustomize-controller", "operation": "Apply", "subresource": "status",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:conditions": {}}}},
    ]  # fmt: skip
    meta = {"name": "apps", "namespace": "ns", "resourceVersion": "3", "managedFields": written}
    return {"metadata": meta, "spec": {"interval": "1m", "path": "./apps"}}


async def test_cached_objects_keep_who_wrote_them_but_not_which_fields() -> None:
    cache = InformerCache(cast(KubeClient, Server([kustomization()])))
    informer = cache.own(KS)
    await informer._relist()
    held = informer.get("ns", "apps")
    assert held is not None
    assert held["spec"] == {"interval": "1m", "path": "./apps"}
    entries = held["metadata"]["managedFields"]
    assert [(e["manager"], e["operation"]) for e in entries] == [
        ("kubectl", "Update"),
        ("kustomize-controller", "Apply"),
    ]
    assert all("fieldsV1" not in e for e in entries)


def test_one_informer_per_kind_whoever_asks() -> None:
    cache = InformerCache(cast(KubeClient, Server([])))
    # The HelmRelease controller's own, the Kustomization controller's dependencies, and
    # a caller naming the cache's transform itself: one list, one watch, one copy.
    own = cache.own(HR)
    assert cache.informer(HR) is own
    assert cache.informer(HR, transform=without_field_sets) is own
    # A shard's own objects are another informer than every object of the kind.
    shard = InformerCache(cast(KubeClient, Server([])), shard_selector="sharding.fluxcd.io/key=a")
    assert shard.own(HR) is not shard.informer(HR)

"""What the drift tracker's informers hold: in a shard, only the objects of the shard's
own Kustomizations (every shard's watch sees every managed object); in any process,
`managedFields` without their field sets. Fed by a stub server's list."""

from __future__ import annotations

from typing import Any, cast

from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource, RestMapper
from kidp_gitops.kustomize.apply import OWNER_NAME, OWNER_NAMESPACE
from kidp_gitops.kustomize.drift import DriftTracker
from kidp_gitops.runtime.cache import InformerCache
from tests.unit.kube.stubserver import Server

KS = Resource("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations", True)
CONFIGMAP = Resource("", "v1", "ConfigMap", "configmaps", True)


class Mapper:
    async def resource(self, api_version: str, kind: str) -> Resource:
        assert (api_version, kind) == ("v1", "ConfigMap")
        return CONFIGMAP


def applied(name: str, owner: str) -> JSON:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "apps",
        "resourceVersion": "1",
        "labels": {OWNER_NAME: owner, OWNER_NAMESPACE: "flux-system"},
        "managedFields": [
            {"manager": "kustomize-controller", "operation": "Apply", "fieldsV1": {"f:data": {}}}
        ],
    }
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": name}}


async def held(owners: Informer | None) -> list[JSON]:
    server = Server([applied("a", "mine"), applied("b", "theirs")])
    cache = InformerCache(cast(KubeClient, server))
    tracker = DriftTracker(cast(RestMapper, Mapper()), cache, owners)
    started: list[Informer] = []
    tracker.subscribe(lambda informer, _: started.append(informer))
    await tracker.watch([applied("a", "mine")])
    (informer,) = started
    await informer._relist()
    return sorted(informer.objects(), key=lambda o: o["metadata"]["name"])


def kustomizations(*names: str) -> Informer:
    shard = Informer(cast(KubeClient, None), KS)
    for name in names:
        shard._apply("ADDED", f"flux-system/{name}", {"metadata": {"name": name}})
    return shard


async def test_a_shard_holds_the_objects_of_its_own_kustomizations_only() -> None:
    objects = await held(kustomizations("mine"))
    assert [o["metadata"]["name"] for o in objects] == ["a"]


async def test_a_process_of_every_kustomization_holds_every_applied_object() -> None:
    objects = await held(None)
    assert [o["metadata"]["name"] for o in objects] == ["a", "b"]


async def test_who_wrote_is_kept_which_fields_is_not() -> None:
    (a,) = await held(kustomizations("mine"))
    assert a["metadata"]["managedFields"] == [
        {"manager": "kustomize-controller", "operation": "Apply"}
    ]

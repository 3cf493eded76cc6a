"""Which objects a change of a named Secret or ConfigMap reconciles, and the versions a
reconciler compares; informers fed by hand (their watch is proven on a real server)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any, cast

from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource, RestMapper
from kidp_gitops.runtime import references
from kidp_gitops.runtime.cache import InformerCache
from kidp_gitops.runtime.controller import Controller
from kidp_gitops.runtime.events import EventRecorder
from kidp_gitops.runtime.reconcile import Request, Result

SECRET = Resource("", "v1", "Secret", "secrets", True)
CONFIGMAP = Resource("", "v1", "ConfigMap", "configmaps", True)
KS = Resource("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations", True)
NO_CLIENT = cast(KubeClient, None)


class Recorded(EventRecorder):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, str]] = []

    def record(
        self,
        obj: JSON,
        type_: Any,
        reason: str,
        message: str,
        annotations: dict[str, str] | None = None,
    ) -> None:
        self.seen.append((obj["metadata"]["name"], type_, reason, message))


class Idle:
    async def reconcile(self, request: Request) -> Result:
        return Result()


def obj(kind: str, name: str, rv: str = "1") -> JSON:
    return {"kind": kind, "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


def owner(name: str, *names: str, suspend: bool = False) -> JSON:
    spec = {"suspend": suspend, "refs": list(names)}
    return {**obj("Kustomization", name), "spec": spec}


async def drain(controller: Controller) -> set[str]:
    found: set[str] = set()
    while len(controller.queue):
        request = await controller.queue.get()
        controller.queue.done(request)
        found.add(str(request))
    return found


def setup() -> tuple[Controller, Informer, references.References, Recorded]:
    owners = Informer(NO_CLIENT, KS)
    secrets = Informer(NO_CLIENT, SECRET, metadata_only=True)
    configmaps = Informer(NO_CLIENT, CONFIGMAP, metadata_only=True)
    watched = references.References({"Secret": secrets, "ConfigMap": configmaps})
    controller = Controller("test", owners, Idle())
    events = Recorded()
    watched.watch(controller, events, lambda o: list(o["spec"]["refs"]))
    for informer in (owners, secrets, configmaps):
        informer.synced.set()
    return controller, secrets, watched, events


def test_keys_name_kind_namespace_and_name() -> None:
    refs = [{"kind": "ConfigMap", "name": "vars"}, {"name": "keys"}, {"kind": "Secret"}]
    assert references.keys("ns", refs) == ["ConfigMap/ns/vars", "Secret/ns/keys"]


async def test_a_change_of_a_named_secret_reconciles_who_names_it_with_an_event() -> None:
    controller, secrets, _, events = setup()
    controller.informer._apply("ADDED", "ns/a", owner("a", "Secret/ns/db"))
    controller.informer._apply("ADDED", "ns/b", owner("b", "ConfigMap/ns/db"))
    controller.informer._apply("ADDED", "ns/off", owner("off", "Secret/ns/db", suspend=True))
    going = owner("going", "Secret/ns/db")
    going["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    controller.informer._apply("ADDED", "ns/going", going)
    await drain(controller)
    secrets._apply("MODIFIED", "ns/db", obj("Secret", "db", "2"))
    assert await drain(controller) == {"ns/a"}
    assert events.seen == [("a", "Normal", "InputChanged", "Secret/ns/db changed: reconciling")]
    secrets._apply("MODIFIED", "ns/other", obj("Secret", "other", "2"))
    assert await drain(controller) == set()


async def test_the_first_list_reconciles_nothing() -> None:
    controller, secrets, _, events = setup()
    controller.informer._apply("ADDED", "ns/a", owner("a", "Secret/ns/db"))
    await drain(controller)
    secrets.synced.clear()
    secrets._apply("ADDED", "ns/db", obj("Secret", "db"))
    assert await drain(controller) == set()
    assert events.seen == []


def test_versions_change_with_any_named_object_and_are_unknown_before_the_list() -> None:
    _, secrets, watched, _ = setup()
    names = ["Secret/ns/db", "ConfigMap/ns/vars"]
    missing = watched.versions(names)
    assert missing == "ConfigMap/ns/vars@- Secret/ns/db@-"
    secrets._apply("ADDED", "ns/db", obj("Secret", "db", "7"))
    assert watched.versions(names) == "ConfigMap/ns/vars@- Secret/ns/db@7"
    assert watched.versions([]) == ""
    secrets.synced.clear()
    assert watched.versions(names) is None


class ListingServer:
    """A list answer for every path, and watches that end at once."""

    max_items: int | None = None

    def __init__(self, items: list[JSON]) -> None:
        self.items = items

    async def pages(self, path: str, params: Any, accept: str) -> AsyncIterator[JSON]:
        yield {"metadata": {"resourceVersion": "10"}, "items": copy.deepcopy(self.items)}


class Mapper:
    async def resource(self, api_version: str, kind: str) -> Resource:
        return {"Secret": SECRET, "ConfigMap": CONFIGMAP}[kind]


async def test_each_process_holds_a_name_namespace_and_version_of_each_object() -> None:
    listed = {
        "metadata": {
            "name": "kube-root-ca.crt",
            "namespace": "ns",
            "resourceVersion": "7",
            "uid": "0b9f…",
            "creationTimestamp": "2026-12-07T04:01:00Z",
            "labels": {"kustomize.toolkit.fluxcd.io/name": "apps"},
            "annotations": {"kubernetes.io/description": "Contains a CA bundle…"},
        }
    }
    cache = InformerCache(cast(KubeClient, ListingServer([listed])))
    mapper = cast(RestMapper, Mapper())
    watched = await references.References.of(cache, mapper)
    # The Kustomization and HelmRelease controllers each ask: one informer per kind.
    again = await references.References.of(cache, mapper)
    assert len(cache._informers) == 2
    assert again._informers == watched._informers
    configmaps = watched._informers["ConfigMap"]
    await configmaps._relist()
    (held,) = configmaps.objects()
    assert held == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kube-root-ca.crt", "namespace": "ns", "resourceVersion": "7"},
    }
    watched._informers["Secret"].synced.set()
    assert watched.versions(["ConfigMap/ns/kube-root-ca.crt"]) == "ConfigMap/ns/kube-root-ca.crt@7"

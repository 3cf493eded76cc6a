"""What an informer's `keep` and `transform` let into its store, and what its handlers
hear: fed by a stub server's list and watch (the watch itself is proven on a real one)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.informer import EventType, Informer, without_field_sets
from kidp_gitops.kube.mapper import Resource
from tests.unit.kube.stubserver import Server

CONFIGMAP = Resource("", "v1", "ConfigMap", "configmaps", True)


def cm(name: str, shard: str, rv: str = "1", **extra: Any) -> JSON:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "apps",
        "resourceVersion": rv,
        "labels": {"shard": shard},
        **extra,
    }
    return {"metadata": meta, "data": {"k": name}}


def ours(obj: JSON) -> bool:
    return bool(obj["metadata"]["labels"].get("shard") == "one")


def informer(server: Server, **options: Any) -> tuple[Informer, list[tuple[EventType, str]]]:
    heard: list[tuple[EventType, str]] = []
    inf = Informer(cast(KubeClient, server), CONFIGMAP, **options)
    inf.add_handler(lambda event, obj: heard.append((event, obj["metadata"]["name"])))
    inf.add_indexer("shard", lambda obj: [obj["metadata"]["labels"]["shard"]])
    return inf, heard


async def test_refused_objects_are_neither_held_nor_reported() -> None:
    server = Server([cm("a", "one"), cm("b", "two")])
    inf, heard = informer(server, keep=ours)
    await inf._relist()
    assert [o["metadata"]["name"] for o in inf.objects()] == ["a"]
    assert heard == [("ADDED", "a")]
    server.events = [
        {"type": "ADDED", "object": cm("c", "two", "11")},
        {"type": "MODIFIED", "object": cm("b", "two", "12")},
        {"type": "DELETED", "object": cm("b", "two", "13")},
        {"type": "ADDED", "object": cm("d", "one", "14")},
    ]
    await inf._watch()
    assert sorted(o["metadata"]["name"] for o in inf.objects()) == ["a", "d"]
    assert heard == [("ADDED", "a"), ("ADDED", "d")]


async def test_an_object_that_leaves_the_share_goes_quietly_its_deletion_is_told() -> None:
    server = Server([cm("a", "one"), cm("b", "one")])
    inf, heard = informer(server, keep=ours)
    await inf._relist()
    server.events = [
        {"type": "MODIFIED", "object": cm("a", "two", "11")},  # moved to another share
        {"type": "DELETED", "object": cm("b", "one", "12")},
    ]
    await inf._watch()
    assert inf.objects() == []
    assert heard == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "b")]
    assert inf.by_index("shard", "one") == []
    assert inf.by_index("shard", "two") == []


async def test_a_new_list_drops_what_left_the_share_quietly_and_reports_what_is_gone() -> None:
    server = Server([cm("a", "one"), cm("b", "one"), cm("c", "one")])
    inf, heard = informer(server, keep=ours)
    await inf._relist()
    server.items = [cm("a", "one"), cm("b", "two", "20")]  # b moved away, c deleted
    await inf._relist()
    assert [o["metadata"]["name"] for o in inf.objects()] == ["a"]
    assert heard[3:] == [("DELETED", "c")]
    assert [o["metadata"]["name"] for o in inf.by_index("shard", "one")] == ["a"]


async def test_without_a_keep_every_object_is_held() -> None:
    server = Server([cm("a", "one"), cm("b", "two")])
    inf, heard = informer(server)
    await inf._relist()
    assert len(inf) == 2
    assert len(heard) == 2


async def test_without_field_sets_keeps_who_wrote_but_not_which_fields() -> None:
    entries = [
        {"manager": "kustomize-controller", "operation": "Apply", "apiVersion": "v1",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:k": {}}}},
        {"manager": "kubectl-edit", "operation": "Update", "subresource": "",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {}}}},
    ]  # fmt: skip
    server = Server([cm("a", "one", managedFields=entries)])
    inf, _ = informer(server, transform=without_field_sets)
    await inf._relist()
    held = inf.objects()[0]["metadata"]["managedFields"]
    assert [(e["manager"], e["operation"]) for e in held] == [
        ("kustomize-controller", "Apply"),
        ("kubectl-edit", "Update"),
    ]
    assert all("fieldsV1" not in e for e in held)
    server.events = [{"type": "MODIFIED", "object": cm("a", "one", "11", managedFields=entries)}]
    await inf._watch()
    assert all("fieldsV1" not in e for e in inf.objects()[0]["metadata"]["managedFields"])
    assert inf.objects()[0]["kind"] == "ConfigMap"


class Paged(Server):
    """A list in pages of two, as the API server pages a large collection; notes what
    the pages handed out earlier still hold whenever the next one is asked for."""

    def __init__(self, items: list[JSON]) -> None:
        super().__init__(items)
        self.earlier_still_held: list[int] = []

    async def pages(self, path: str, params: Mapping[str, str], accept: str) -> AsyncIterator[JSON]:
        given: list[JSON] = []
        for start in range(0, len(self.items), 2):
            self.earlier_still_held.append(sum(len(p.get("items") or []) for p in given))
            page = {
                "metadata": {"resourceVersion": "10"},
                "items": copy.deepcopy(self.items[start : start + 2]),
            }
            given.append(page)
            yield page


async def test_a_list_in_pages_is_filtered_a_page_at_a_time() -> None:
    items = [cm(f"o{i}", "one" if i % 3 == 0 else "two") for i in range(9)]
    server = Paged(items)
    inf, heard = informer(server, keep=ours, transform=without_field_sets)
    await inf._relist()
    assert sorted(o["metadata"]["name"] for o in inf.objects()) == ["o0", "o3", "o6"]
    assert [name for _, name in heard] == ["o0", "o3", "o6"]
    # No page waited for the next with its objects: the refused ones were gone already.
    assert server.earlier_still_held == [0, 0, 0, 0, 0]

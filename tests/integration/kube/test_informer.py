"""An informer's store follows the server: creates, updates and deletes, through a
watch that expired (410) and through an API server restart, with no lost event."""

from __future__ import annotations

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import KubeClient, RestMapper
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.informer import EventType, Informer
from tests.integration.wait import until


def names(informer: Informer) -> set[str]:
    return {o["metadata"]["name"] for o in informer.objects()}


async def fresh_names(kube: KubeClient, path: str, selector: str) -> set[str]:
    listed = await kube.list(path, {"labelSelector": selector})
    return {o["metadata"]["name"] for o in listed["items"]}


async def test_informer_sees_creates_updates_and_deletes(kube: KubeClient, namespace: str) -> None:
    cms = await RestMapper(kube).resource("v1", "ConfigMap")
    informer = Informer(kube, cms, namespace=namespace, label_selector="team=a")
    informer.add_indexer("color", lambda o: [o.get("data", {}).get("color", "")])
    events: list[tuple[EventType, str]] = []
    informer.add_handler(lambda ev, o: events.append((ev, o["metadata"]["name"])))
    path = cms.path(namespace)
    await kube.create(path, {"metadata": {"name": "before", "labels": {"team": "a"}}})
    informer.start()
    try:
        await informer.wait_synced(10)
        assert names(informer) == {"before"}
        await kube.create(
            path, {"metadata": {"name": "one", "labels": {"team": "a"}}, "data": {"color": "red"}}
        )
        await kube.create(path, {"metadata": {"name": "other-team", "labels": {"team": "b"}}})
        await kube.patch(f"{path}/one", {"data": {"color": "blue"}})
        await kube.delete(f"{path}/before")
        await until(lambda: _async(("DELETED", "before") in events), 10, "the delete event")
        assert names(informer) == {"one"}  # the selector filters other-team out
        assert [o["metadata"]["name"] for o in informer.by_index("color", "blue")] == ["one"]
        assert informer.by_index("color", "red") == []
        obj = informer.get(namespace, "one")
        assert obj is not None
        assert obj["kind"] == "ConfigMap"
        assert ("MODIFIED", "one") in events
        assert all(name != "other-team" for _, name in events)
    finally:
        await informer.stop()


async def _async(value: bool) -> bool:
    return value


async def test_informer_relists_when_its_resource_version_is_gone(
    kube: KubeClient, namespace: str
) -> None:
    cms = await RestMapper(kube).resource("v1", "ConfigMap")
    path = cms.path(namespace)
    informer = Informer(kube, cms, namespace=namespace, label_selector="t=gone")
    seen: list[tuple[EventType, str]] = []
    informer.add_handler(lambda ev, o: seen.append((ev, o["metadata"]["name"])))
    labels = {"t": "gone"}
    await kube.create(path, {"metadata": {"name": "stays", "labels": labels}})
    await kube.create(path, {"metadata": {"name": "goes", "labels": labels}})
    informer.start()
    await informer.wait_synced(10)
    await informer.stop()
    # While the informer is away: a delete, an add, a change.
    await kube.delete(f"{path}/goes")
    await kube.create(path, {"metadata": {"name": "new", "labels": labels}})
    await kube.patch(f"{path}/stays", {"data": {"x": "1"}})
    # Resuming from a version the server no longer keeps must end in a relist.
    informer._rv = "1"
    informer.start()
    try:
        await until(lambda: _async(informer.relists == 2), 10, "a relist after 410 Gone")
        assert names(informer) == {"stays", "new"}
        assert ("DELETED", "goes") in seen
        assert ("ADDED", "new") in seen
        assert ("MODIFIED", "stays") in seen
        stays: JSON | None = informer.get(namespace, "stays")
        assert stays is not None
        assert stays["data"] == {"x": "1"}
    finally:
        await informer.stop()


async def test_informer_survives_an_apiserver_restart(
    cluster: DevCluster, kube: KubeClient, namespace: str
) -> None:
    cms = await RestMapper(kube).resource("v1", "ConfigMap")
    path = cms.path(namespace)
    informer = Informer(kube, cms, namespace=namespace, label_selector="restart=yes")
    labels = {"restart": "yes"}
    for i in range(5):
        await kube.create(path, {"metadata": {"name": f"cm-{i}", "labels": labels}})
    informer.start()
    try:
        await informer.wait_synced(10)
        await cluster.restart_apiserver(downtime=1.0)
        # Changes right after the restart, while the informer is still reconnecting.
        await kube.delete(f"{path}/cm-0")
        await kube.patch(f"{path}/cm-1", {"data": {"after": "restart"}})
        for i in range(5, 8):
            await kube.create(path, {"metadata": {"name": f"cm-{i}", "labels": labels}})
        expected = await fresh_names(kube, path, "restart=yes")
        assert expected == {f"cm-{i}" for i in range(1, 8)}
        await until(
            lambda: _async(names(informer) == expected),
            30,
            "the informer to catch up after the restart",
        )
        cm1 = informer.get(namespace, "cm-1")
        assert cm1 is not None
        assert cm1.get("data") == {"after": "restart"}
    finally:
        await informer.stop()


async def test_a_metadata_only_informer_holds_no_content(kube: KubeClient, namespace: str) -> None:
    """Names, labels and resourceVersions of Secrets, after a list and through the watch:
    no data, no managedFields; Helm's release storage filtered out by the server."""
    secrets = await RestMapper(kube).resource("v1", "Secret")
    path = secrets.path(namespace)
    informer = Informer(
        kube,
        secrets,
        namespace=namespace,
        field_selector="type!=helm.sh/release.v1",
        metadata_only=True,
    )
    seen: list[tuple[EventType, str]] = []
    informer.add_handler(lambda ev, o: seen.append((ev, o["metadata"]["name"])))
    await kube.create(path, {"metadata": {"name": "listed"}, "stringData": {"k": "listed-value"}})
    informer.start()
    try:
        await informer.wait_synced(10)
        await kube.create(path, {"metadata": {"name": "watched"}, "stringData": {"k": "v1"}})
        await kube.create(
            path,
            {"metadata": {"name": "sh.helm.release.v1.x.v1"}, "type": "helm.sh/release.v1"},
        )
        changed = await kube.patch(f"{path}/watched", {"stringData": {"k": "v2"}})
        await until(lambda: _async(("MODIFIED", "watched") in seen), 10, "the change")
        assert names(informer) == {"listed", "watched"}
        watched = informer.get(namespace, "watched")
        assert watched is not None
        assert (watched["apiVersion"], watched["kind"]) == ("v1", "Secret")
        assert watched["metadata"]["resourceVersion"] == changed["metadata"]["resourceVersion"]
        for obj in informer.objects():
            assert set(obj) == {"apiVersion", "kind", "metadata"}, obj
            assert "managedFields" not in obj["metadata"]
    finally:
        await informer.stop()

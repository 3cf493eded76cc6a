"""The dashboard's HTTP API over an informer cache: a page load sends no request to the
API server (the fake client below counts them), and actions stay refused by default."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

from aiohttp.test_utils import TestClient, TestServer

from kidp_gitops.dashboard import Dashboard
from kidp_gitops.kube import KubeClient
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.runtime.cache import InformerCache

JSON = dict[str, Any]

KS = Resource("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations", True)
GIT = Resource("source.toolkit.fluxcd.io", "v1", "GitRepository", "gitrepositories", True)
DEPLOY = Resource("apps", "v1", "Deployment", "deployments", True)
EVENT = Resource("", "v1", "Event", "events", True)


class CountingClient:
    """Answers an informer's list from fixed items and never ends its watch; counts calls."""

    def __init__(self, items: Mapping[str, list[JSON]]):
        self.items = items
        self.calls: list[str] = []

    async def pages(
        self, path: str, params: Mapping[str, str] | None = None, accept: str = ""
    ) -> AsyncIterator[JSON]:
        self.calls.append(f"list {path}")
        yield {
            "items": copy.deepcopy(self.items.get(path, [])),
            "metadata": {"resourceVersion": "1"},
        }

    async def stream(
        self,
        path: str,
        params: Mapping[str, str],
        read_timeout: float | None = None,
        accept: str = "",
    ) -> AsyncIterator[JSON]:
        self.calls.append(f"watch {path}")
        await asyncio.Event().wait()
        yield {}

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the dashboard called the API client: {name}")


def _objects() -> dict[str, list[JSON]]:
    ks = {
        "metadata": {
            "name": "apps",
            "namespace": "ns",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"path": "./apps"},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded"}
            ],
            "lastAppliedRevision": "main@sha1:abc",
            "inventory": {"entries": [{"id": "ns_web_apps_Deployment", "v": "v1"}]},
        },
    }
    repo = {"metadata": {"name": "repo", "namespace": "ns"}, "spec": {"suspend": True}}
    deploy = {
        "metadata": {"name": "web", "namespace": "ns", "generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
            "availableReplicas": 1,
            "conditions": [{"type": "Available", "status": "True"}],
        },
    }
    event = {
        "metadata": {"name": "apps.1", "namespace": "ns"},
        "involvedObject": {
            "kind": "Kustomization",
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "name": "apps",
            "namespace": "ns",
        },
        "type": "Normal",
        "reason": "ReconciliationSucceeded",
        "message": "applied",
        "lastTimestamp": "2026-01-01T00:01:00Z",
    }
    return {
        KS.path(): [ks],
        GIT.path(): [repo],
        DEPLOY.path(): [deploy],
        EVENT.path(): [event],
    }


async def test_pages_read_the_cache_only_and_actions_are_off() -> None:
    fake = CountingClient(_objects())
    client = cast(KubeClient, fake)
    cache = InformerCache(client)
    informers = [
        cache.informer(KS),
        cache.informer(GIT),
        cache.informer(DEPLOY, label_selector="kustomize.toolkit.fluxcd.io/name"),
        cache.informer(EVENT),
    ]
    for informer in informers:
        informer.start()
    for informer in informers:
        await informer.wait_synced(10)
    sent = list(fake.calls)

    async with TestClient(TestServer(Dashboard(cache, client).app())) as http:
        page = await http.get("/")
        assert page.status == 200
        listing = await (await http.get("/api/v1/objects")).json()
        detail = await (await http.get("/api/v1/objects/kustomization/ns/apps")).json()
        events = await (await http.get("/api/v1/events?kind=kustomization")).json()
        unknown = await http.get("/api/v1/objects/Pod/ns/x")
        refused = await http.post(
            "/api/v1/objects/GitRepository/ns/repo/suspend",
            headers={"X-Requested-By": "kidp-dashboard"},
        )
        refused_body = await refused.json()

    for informer in informers:
        await informer.stop()
    assert fake.calls == sent, "a page load sent requests to the API server"

    rows = {(r["kind"], r["name"]): r for r in listing["items"]}
    assert rows["Kustomization", "apps"]["ready"] == "True"
    assert rows["Kustomization", "apps"]["revision"] == "main@sha1:abc"
    assert rows["GitRepository", "repo"]["suspended"] is True
    assert listing["overview"]["GitRepository"]["suspended"] == 1
    assert listing["synced"] is True
    assert detail["inventory"][0]["name"] == "web"
    assert detail["inventory"][0]["health"]["status"] == "Current"
    assert detail["events"][0]["reason"] == "ReconciliationSucceeded"
    assert [e["name"] for e in events["items"]] == ["apps"]
    assert unknown.status == 404
    assert refused.status == 403
    assert "--dashboard-actions" in refused_body["error"]


async def test_on_loopback_only_loopback_host_names_are_served() -> None:
    """A site whose name resolves to 127.0.0.1 (DNS rebinding) gets nothing."""
    client = cast(KubeClient, CountingClient({}))
    async with TestClient(TestServer(Dashboard(InformerCache(client), client).app())) as http:
        port = http.server.port
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
            assert (await http.get("/api/v1/info", headers={"Host": host})).status == 200, host
        rebound = await http.get("/api/v1/objects", headers={"Host": f"evil.example:{port}"})
        assert rebound.status == 403
        assert "loopback" in (await rebound.json())["error"]

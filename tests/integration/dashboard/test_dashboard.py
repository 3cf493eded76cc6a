"""The dashboard served by the engine, against the real control plane and a real git
server: objects with their revision and Ready, a Kustomization's inventory with each
object's health (nested Kustomizations followed), protected drift, live updates over the
stream, actions refused unless enabled, and a page that loads only its own assets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from kidp_gitops.dashboard import Dashboard
from kidp_gitops.engine.run import Engine
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.dashboard.helpers import (
    base_url,
    child_kustomization,
    configmap,
    deployment,
    get_json,
    open_stream,
    wait_row,
)
from tests.integration.kustomize.helpers import KS, kustomization, setup_source, wait_ready
from tests.integration.source.helpers import create_repo, request_reconcile
from tests.integration.source.helpers import path as git_path
from tests.integration.wait import until

JSON = dict[str, Any]
ACTION_HEADERS = {"X-Requested-By": "kidp-dashboard"}


async def _apps(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> str:
    """Kustomization `apps` (a Deployment, a protected Deployment and Kustomization
    `config`, which applies a ConfigMap) from a new repository; both Ready."""
    files = {
        "apps/web.yaml": deployment("web", namespace),
        "apps/guarded.yaml": deployment(
            "guarded", namespace, annotations={"flux.weave.works/ignore": "true"}
        ),
        "apps/config.yaml": child_kustomization("config", namespace, "config"),
        "config/settings.yaml": configmap("settings", namespace),
    }
    repo = await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await kube.create(KS.format(ns=namespace), kustomization("apps", "apps"))
    await wait_ready(kube, namespace, "apps")
    await wait_ready(kube, namespace, "config")
    return repo


def _find(nodes: list[JSON], kind: str, name: str) -> JSON | None:
    for node in nodes:
        if node["kind"] == kind and node["name"] == name:
            return node
    return None


async def test_objects_inventory_health_and_events(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await _apps(kube, namespace, git_repos, http_git, unique_repo)
    base = base_url(engine)

    ks = await wait_row(
        base, "Kustomization", namespace, "apps", lambda r: r["ready"] == "True", "Ready"
    )
    assert ks["revision"].startswith("main@sha1:")
    assert ks["reason"] == "ReconciliationSucceeded"
    assert ks["suspended"] is False
    assert ks["drifted"] is False
    source = await wait_row(
        base, "GitRepository", namespace, "kidp-infrastructure", lambda r: r["ready"] == "True", ""
    )
    assert source["revision"] == ks["revision"]
    _, listing = await get_json(f"{base}/api/v1/objects")
    assert listing["overview"]["Kustomization"]["ready"] >= 2
    assert listing["actions"] is False

    # The detail: conditions, spec, and the inventory with each object's kstatus.
    async def healthy_detail() -> JSON | None:
        status, body = await get_json(f"{base}/api/v1/objects/Kustomization/{namespace}/apps")
        assert status == 200, body
        web_node = _find(body["inventory"], "Deployment", "web")
        child = _find(body["inventory"], "Kustomization", "config")
        if web_node is None or child is None or web_node["health"]["status"] != "Current":
            return None
        # A Kustomization lists an object in its inventory before it creates it: the
        # child's ConfigMap may be NotFound for a moment.
        settings = _find(child["resources"], "ConfigMap", "settings")
        if settings is None or settings["health"]["status"] == "NotFound":
            return None
        return body

    detail = await until(healthy_detail, 60, "the web Deployment and the ConfigMap in the detail")
    assert {c["type"] for c in detail["conditions"]} >= {"Ready"}
    assert detail["spec"]["path"] == "./apps"
    assert detail["spec"]["sourceRef.name"] == "kidp-infrastructure"
    child = _find(detail["inventory"], "Kustomization", "config")
    assert child is not None
    settings = _find(child["resources"], "ConfigMap", "settings")
    assert settings is not None, child
    assert settings["health"]["status"] == "Current"
    assert settings["namespace"] == namespace

    # Events of the Kustomization, from the engine's cache.
    async def events() -> list[JSON] | None:
        _, body = await get_json(
            f"{base}/api/v1/events?kind=Kustomization&namespace={namespace}&name=apps"
        )
        return list(body["items"]) or None

    found = await until(events, 60, "an event about Kustomization apps")
    assert all(e["kind"] == "Kustomization" and e["name"] == "apps" for e in found)
    status, missing = await get_json(f"{base}/api/v1/objects/Kustomization/{namespace}/nope")
    assert status == 404
    assert "not found" in missing["error"]


async def test_manual_drift_on_a_protected_object_shows_drifted(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await _apps(kube, namespace, git_repos, http_git, unique_repo)
    base = base_url(engine)
    await wait_row(base, "Kustomization", namespace, "apps", lambda r: not r["drifted"], "")

    async with open_stream(base) as stream:
        await kube.patch(
            f"/apis/apps/v1/namespaces/{namespace}/deployments/guarded", {"spec": {"replicas": 3}}
        )
        # The page hears of the edit itself (its detail view reloads) and of the drift.
        managed = await stream.next_matching(
            lambda m: m["type"] == "managed" and m["name"] == "guarded"
        )
        assert managed["kind"] == "Deployment"
        assert managed["owner"] == {"namespace": namespace, "name": "apps"}
        await stream.next_matching(
            lambda m: (
                m["type"] == "object"
                and m["object"]["name"] == "apps"
                and m["object"]["namespace"] == namespace
                and m["object"]["drifted"]
            )
        )

    row = await wait_row(
        base, "Kustomization", namespace, "apps", lambda r: r["drifted"], "drifted"
    )
    assert row["kind"] == "Kustomization"
    _, listing = await get_json(f"{base}/api/v1/objects")
    assert listing["overview"]["Kustomization"]["drifted"] >= 1
    _, detail = await get_json(f"{base}/api/v1/objects/Kustomization/{namespace}/apps")
    drifted = next(c for c in detail["conditions"] if c["type"] == "Drifted")
    assert drifted["status"] == "True"
    assert "guarded" in drifted["message"]


async def test_the_stream_delivers_a_new_artifact(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    repo = await setup_source(
        kube, namespace, git_repos, http_git, unique_repo, {"a/cm.yaml": configmap("a", namespace)}
    )
    base = base_url(engine)
    await wait_row(
        base, "GitRepository", namespace, "kidp-infrastructure", lambda r: r["ready"] == "True", ""
    )

    async with open_stream(base) as stream:
        with git_repos.worktree(repo, "main") as wt:
            wt.write({"a/cm.yaml": configmap("b", namespace)})
            commit = wt.commit("a new revision")
            wt.push()
        await request_reconcile(kube, namespace, "kidp-infrastructure")

        def new_artifact(m: JSON) -> bool:
            o = m.get("object") or {}
            return (
                m["type"] == "object"
                and (o["kind"], o["namespace"], o["name"])
                == ("GitRepository", namespace, "kidp-infrastructure")
                and o["revision"].endswith(commit)
            )

        message = await stream.next_matching(new_artifact)
    assert message["object"]["ready"] == "True"


async def _post(url: str, headers: dict[str, str] | None = None) -> tuple[int, JSON]:
    async with aiohttp.ClientSession() as http, http.post(url, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_actions_are_refused_when_not_enabled(
    engine: Engine, kube: KubeClient, namespace: str
) -> None:
    await create_repo(kube, namespace, "repo", {"interval": "1h", "url": "http://127.0.0.1:1/x"})
    base = base_url(engine)
    target = f"{base}/api/v1/objects/GitRepository/{namespace}/repo"

    status, body = await _post(f"{target}/suspend", ACTION_HEADERS)
    assert status == 403
    assert "--dashboard-actions" in body["error"]
    async with aiohttp.ClientSession() as http, http.get(f"{target}/suspend") as resp:
        assert resp.status == 405
    assert not (await kube.get(git_path(namespace, "repo")))["spec"].get("suspend")


@pytest.fixture
async def actions_dashboard(engine: Engine, kube: KubeClient) -> AsyncIterator[str]:
    """A dashboard with actions on, over the running engine's cache."""
    assert engine.cache is not None
    runner = web.AppRunner(Dashboard(engine.cache, kube, actions=True).app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_actions_suspend_resume_and_reconcile_when_enabled(
    actions_dashboard: str, kube: KubeClient, namespace: str
) -> None:
    await create_repo(kube, namespace, "repo", {"interval": "1h", "url": "http://127.0.0.1:1/x"})
    base = actions_dashboard
    target = f"{base}/api/v1/objects/GitRepository/{namespace}/repo"
    await wait_row(base, "GitRepository", namespace, "repo", lambda r: True, "listed")
    _, info = await get_json(f"{base}/api/v1/info")
    assert info["actions"] is True

    # Without the header our page sends, or from another site: refused.
    assert (await _post(f"{target}/suspend"))[0] == 403
    cross = {**ACTION_HEADERS, "Origin": "http://evil.example"}
    assert (await _post(f"{target}/suspend", cross))[0] == 403
    assert not (await kube.get(git_path(namespace, "repo")))["spec"].get("suspend")

    status, body = await _post(f"{target}/suspend", ACTION_HEADERS)
    assert status == 200, body
    assert (await kube.get(git_path(namespace, "repo")))["spec"]["suspend"] is True
    await wait_row(base, "GitRepository", namespace, "repo", lambda r: r["suspended"], "suspended")

    status, body = await _post(f"{target}/resume", ACTION_HEADERS)
    assert status == 200, body
    obj = await kube.get(git_path(namespace, "repo"))
    assert obj["spec"]["suspend"] is False
    requested = obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]

    status, body = await _post(f"{target}/reconcile", ACTION_HEADERS)
    assert status == 200, body
    obj = await kube.get(git_path(namespace, "repo"))
    assert obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"] != requested

    assert (
        await _post(f"{base}/api/v1/objects/GitRepository/{namespace}/nope/suspend", ACTION_HEADERS)
    )[0] == 404
    assert (await _post(f"{target}/delete", ACTION_HEADERS))[0] == 404


async def test_page_and_assets_are_served_locally(engine: Engine) -> None:
    base = base_url(engine)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
            assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
            page = await resp.text()
        refs = re.findall(r'(?:src|href)="([^"#]+)"', page)
        assert sorted(refs) == ["/static/app.css", "/static/app.js"]
        wanted = {"/static/app.js": "text/javascript", "/static/app.css": "text/css"}
        for ref, content_type in wanted.items():
            async with http.get(f"{base}{ref}") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"] == f"{content_type}; charset=utf-8"
                text = await resp.text()
            # Nothing from the network: no absolute URLs, no @import, no web fonts.
            assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import|url\(", text), ref
        async with http.get(f"{base}/static/../server.py") as resp:
            assert resp.status == 404

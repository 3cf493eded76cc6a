"""What the client puts on the wire for a write: a field manager of ours on every write
(the view's own, or the default), never on reads; and the request metric says whether
the request was a dry run. Checked against a real HTTP server on loopback that records
each request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from kidp_gitops.kube.client import DEFAULT_FIELD_MANAGER, KubeClient
from kidp_gitops.kube.config import ClusterConfig

UNUSUAL_SUCCESS = 203


@dataclass(frozen=True)
class Seen:
    method: str
    query: dict[str, str]
    user: str | None
    agent: str | None


async def _no_auth() -> str | None:
    return None


@pytest.fixture
async def server() -> AsyncIterator[tuple[KubeClient, list[Seen]]]:
    seen: list[Seen] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(
            Seen(
                request.method,
                dict(request.query),
                request.headers.get("Impersonate-User"),
                request.headers.get("User-Agent"),
            )
        )
        # 203: a success no API server sends, so the counts below are this server's
        # alone, whatever else (an engine of the integration tests) runs in the process.
        return web.json_response({"kind": "ConfigMap"}, status=UNUSUAL_SUCCESS)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = KubeClient(
        ClusterConfig(f"http://127.0.0.1:{port}", False, _no_auth),
        user_agent="kustomize-controller/v0 (pod-a_7)",
    )
    try:
        yield client, seen
    finally:
        await client.close()
        await runner.cleanup()


def counted(method: str, dry_run: str) -> float:
    labels = {"method": method, "code": str(UNUSUAL_SUCCESS), "dry_run": dry_run}
    return REGISTRY.get_sample_value("rest_client_requests_total", labels) or 0.0


PATH = "/api/v1/namespaces/a/configmaps/c"


async def test_every_write_names_a_field_manager(server: tuple[KubeClient, list[Seen]]) -> None:
    client, seen = server
    await client.get(PATH)
    await client.create("/api/v1/namespaces/a/configmaps", {"metadata": {"name": "c"}})
    await client.replace(PATH, {"metadata": {"name": "c"}})
    await client.patch(PATH, {"data": {"a": "b"}})
    await client.delete(PATH)
    assert [(s.method, s.query.get("fieldManager")) for s in seen] == [
        ("GET", None),
        ("POST", DEFAULT_FIELD_MANAGER),
        ("PUT", DEFAULT_FIELD_MANAGER),
        ("PATCH", DEFAULT_FIELD_MANAGER),
        ("DELETE", None),
    ]
    assert DEFAULT_FIELD_MANAGER != "Python"


async def test_a_controller_view_names_its_own(server: tuple[KubeClient, list[Seen]]) -> None:
    client, seen = server
    controller = client.managed_by("gotk-kustomize-controller")
    tenant = controller.impersonate("system:serviceaccount:a:deployer")
    await controller.patch(f"{PATH}/status", {"status": {}})
    await tenant.patch(PATH, {"data": {}})
    await client.patch(PATH, {"data": {}})
    assert [(s.query["fieldManager"], s.user) for s in seen] == [
        ("gotk-kustomize-controller", None),
        ("gotk-kustomize-controller", "system:serviceaccount:a:deployer"),
        (DEFAULT_FIELD_MANAGER, None),
    ]
    assert controller.field_manager == "gotk-kustomize-controller"
    # Every request names the process that sent it, a view's too (the audit log's
    # userAgent, which tells replicas of one ServiceAccount apart).
    assert {s.agent for s in seen} == {"kustomize-controller/v0 (pod-a_7)"}
    await controller.close()  # a view closes nothing: the owner still works
    await client.get(PATH)


async def test_apply_names_its_manager_and_dry_runs_are_counted_apart(
    server: tuple[KubeClient, list[Seen]],
) -> None:
    client, seen = server
    controller = client.managed_by("gotk-kustomize-controller")
    dry_before, real_before = counted("PATCH", "true"), counted("PATCH", "false")
    await controller.apply(PATH, {"kind": "ConfigMap"}, field_manager="kustomize-controller")
    await controller.apply(
        PATH, {"kind": "ConfigMap"}, field_manager="kustomize-controller", dry_run=True
    )
    assert [s.query["fieldManager"] for s in seen] == ["kustomize-controller"] * 2
    assert seen[1].query["dryRun"] == "All"
    assert counted("PATCH", "true") == dry_before + 1
    assert counted("PATCH", "false") == real_before + 1

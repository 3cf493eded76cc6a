"""Running `kidp` in-process against the session's control plane.

`kidp("get", "ks", "-n", ns)` runs the command with typer's runner in a worker thread
(the command runs its own event loop; the engine keeps running in the test loop) with
KUBECONFIG pointing at the test cluster, and returns what a user sees: exit code,
stdout, and stdout+stderr as `output`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Protocol

import pytest
from typer.testing import CliRunner, Result

from kidp_gitops.cli.main import app
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.install import manifests
from kidp_gitops.kube import ApiError, KubeClient
from kidp_gitops.views import kinds
from tests.integration.conftest import bare_cluster_used_later, install_crds
from tests.integration.wait import until


class Kidp(Protocol):
    def __call__(
        self, *args: str, env: dict[str, str] | None = None, input: str | None = None
    ) -> Awaitable[Result]: ...


@pytest.fixture
def kidp(installed: DevCluster) -> Kidp:
    def invoke(
        *args: str, env: dict[str, str] | None = None, input: str | None = None
    ) -> Awaitable[Result]:
        environment: dict[str, str | None] = {
            "KUBECONFIG": str(installed.kubeconfig),
            "KIDP_NAMESPACE": None,
        }
        environment.update(env or {})
        return asyncio.to_thread(
            CliRunner().invoke,
            app,
            list(args),
            input=input,
            env=environment,
            catch_exceptions=False,
        )

    return invoke


@pytest.fixture
async def own_cluster(
    request: pytest.FixtureRequest, bare_cluster: DevCluster, bare_kube: KubeClient
) -> AsyncIterator[DevCluster]:
    """A control plane without the session's engine, for commands that change the whole
    cluster (uninstall, bootstrap): `bare_cluster`, put back afterwards, when a later
    test uses it, as they expect — kidp's CRDs and RBAC, no GitOps object in flux-system."""
    try:
        yield bare_cluster
    finally:
        if bare_cluster_used_later(request):
            await reset(bare_cluster, bare_kube)


async def reset(cluster: DevCluster, kube: KubeClient) -> None:
    """After bootstrap: its sync objects (their finalizers first: no engine runs) and its
    Secret go. After uninstall: wait until kidp's CRDs and namespace are gone. Then
    `kidp install --without-controllers` as bare_cluster did."""
    namespace = manifests.NAMESPACE
    if await _installed(kube):
        for kind in kinds.ALL:
            for obj in (await kube.get(kind.path(namespace)))["items"]:
                path = kind.path(namespace, obj["metadata"]["name"])
                await kube.patch(path, {"metadata": {"finalizers": None}})
                await _delete(kube, path)
        await _delete(kube, f"/api/v1/namespaces/{namespace}/secrets/flux-system")
    else:
        await until(lambda: _uninstalled(kube), 120, "kidp's CRDs and namespace to be deleted")
    await install_crds(cluster)


async def _installed(kube: KubeClient) -> bool:
    """kidp's CRDs all there, its namespace there and not being deleted."""
    crds = await kube.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    served = {(c["spec"]["group"], c["spec"]["names"]["plural"]) for c in crds["items"]}
    if not all((k.group, k.plural) in served for k in kinds.ALL):
        return False
    try:
        ns = await kube.get(f"/api/v1/namespaces/{manifests.NAMESPACE}")
    except ApiError as err:
        if err.not_found:
            return False
        raise
    return not ns["metadata"].get("deletionTimestamp")


async def _uninstalled(kube: KubeClient) -> bool:
    crds = await kube.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    if any(c["spec"]["group"].endswith(".toolkit.fluxcd.io") for c in crds["items"]):
        return False
    try:
        await kube.get(f"/api/v1/namespaces/{manifests.NAMESPACE}")
    except ApiError as err:
        return err.not_found
    return False


async def _delete(kube: KubeClient, path: str) -> None:
    try:
        await kube.delete(path)
    except ApiError as err:
        if not err.not_found:
            raise

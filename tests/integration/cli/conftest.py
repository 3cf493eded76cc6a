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
from tests.integration.conftest import install_crds
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
async def own_cluster(bare_cluster: DevCluster, bare_kube: KubeClient) -> AsyncIterator[DevCluster]:
    """A control plane without the session's engine, for commands that change the whole
    cluster (uninstall, bootstrap): `bare_cluster`, put back afterwards as the tests that
    share it expect — kidp's CRDs and RBAC, nothing in flux-system — by `kidp uninstall`
    and `kidp install --without-controllers`."""
    try:
        yield bare_cluster
    finally:
        await reset(bare_cluster, bare_kube)


async def reset(cluster: DevCluster, kube: KubeClient) -> None:
    done = await asyncio.to_thread(
        CliRunner().invoke, app, ["uninstall", "--silent", f"--kubeconfig={cluster.kubeconfig}"]
    )
    assert done.exit_code == 0, done.output

    async def gone() -> bool:
        crds = await kube.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        if any(c["spec"]["group"].endswith(".toolkit.fluxcd.io") for c in crds["items"]):
            return False
        try:
            await kube.get(f"/api/v1/namespaces/{manifests.NAMESPACE}")
        except ApiError as err:
            return err.not_found
        return False

    await until(gone, 120, "kidp's CRDs and namespace to be deleted")
    await install_crds(cluster)

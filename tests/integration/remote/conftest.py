"""The remote cluster of `spec.kubeConfig`: a second control plane, one for this package
(tests/integration/controlplanes.py counts it; its tests run in one process, the
`remote-cluster` group). It trusts the shared control plane's service-account issuer,
as a remote cluster trusts a management cluster for workload identity
(`configMapRef`, provider generic): a token of the shared one is, here, the user
`management:system:serviceaccount:<namespace>:<name>` (devcluster/trust.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.devcluster.trust import Trust
from kidp_gitops.kube import KubeClient, load_config


@pytest.fixture(scope="package")
async def remote_cluster(
    cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DevCluster]:
    dev = DevCluster(tmp_path_factory.mktemp("remote-cluster"), trusts=Trust(cluster.issuer()))
    await dev.up()
    try:
        yield dev
    finally:
        dev.down()


@pytest.fixture
async def remote(remote_cluster: DevCluster) -> AsyncIterator[KubeClient]:
    async with KubeClient(await load_config(remote_cluster.kubeconfig)) as client:
        yield client

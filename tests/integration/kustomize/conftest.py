"""A second control plane for the tests that run engines of their own.

The session's engine watches every namespace of the shared control plane: it would act
on the objects of a test that stops its engine to simulate a restart, or that needs an
engine with other flags (tenancy). Those tests use `bare_cluster` — kidp's CRDs and
RBAC, and no engine but the ones they start with `engines`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kidp_gitops.cli.main import app
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import ApiError, KubeClient, load_config
from tests.integration.kustomize.engines import Engines


@pytest.fixture(scope="session")
def bare_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    dev = DevCluster(tmp_path_factory.mktemp("bare-cluster"))
    asyncio.run(dev.up())
    try:
        result = CliRunner().invoke(
            app, ["install", "--without-controllers", f"--kubeconfig={dev.kubeconfig}"]
        )
        assert result.exit_code == 0, result.output
        yield dev
    finally:
        dev.down()


@pytest.fixture(scope="session")
async def bare_kube(bare_cluster: DevCluster) -> AsyncIterator[KubeClient]:
    async with KubeClient(await load_config(bare_cluster.kubeconfig)) as client:
        yield client


@pytest.fixture
async def bare_namespace(bare_kube: KubeClient) -> AsyncIterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    await bare_kube.create("/api/v1/namespaces", {"metadata": {"name": name}})
    yield name
    try:
        await bare_kube.delete(f"/api/v1/namespaces/{name}")
    except ApiError as err:
        if not err.not_found:
            raise


@pytest.fixture
async def engines(bare_cluster: DevCluster, tmp_path: Path) -> AsyncIterator[Engines]:
    """Start and stop engines on `bare_cluster`; whatever still runs stops at the end."""
    running = Engines(bare_cluster, tmp_path / "engine")
    try:
        yield running
    finally:
        await running.stop()

"""`kidp create|get|reconcile source helm` (and `source chart`) against a real chart
repository on loopback, the engine and the real control plane, as `flux` spells them."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from kidp_gitops.kube import KubeClient
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import one_line
from tests.integration.source.helmrepos import ChartRepo, create, serve, wait_ready

pytestmark = pytest.mark.usefixtures("engine")


@pytest.fixture
async def chart_repo(tmp_path: Path) -> AsyncIterator[ChartRepo]:
    async for repo in serve(tmp_path / "repo", username="cli", password="cli-secret"):
        yield repo


def index_revision(repo: ChartRepo) -> str:
    return "sha256:" + hashlib.sha256((repo.charts / "index.yaml").read_bytes()).hexdigest()


async def test_create_source_helm_export_prints_the_objects(kidp: Kidp, namespace: str) -> None:
    result = await kidp(
        "create", "source", "helm", "podinfo", "--url", "https://stefanprodan.github.io/podinfo",
        "--username", "u", "--password", "p", "--pass-credentials", "--interval", "5m",
        "--export", "-n", namespace,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    secret, repo = yaml.safe_load_all(result.stdout)
    assert secret["kind"] == "Secret"
    assert repo == {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": "podinfo", "namespace": namespace},
        "spec": {
            "url": "https://stefanprodan.github.io/podinfo",
            "interval": "5m",
            "secretRef": {"name": "podinfo"},
            "passCredentials": True,
        },
    }


async def test_create_get_and_reconcile_a_helm_repository(
    kidp: Kidp, kube: KubeClient, namespace: str, chart_repo: ChartRepo
) -> None:
    chart_repo.publish("hello", "1.0.0")
    created = await kidp(
        "create", "source", "helm", "charts", "--url", chart_repo.url,
        "--username", "cli", "--password", "cli-secret", "--interval", "10m", "-n", namespace,
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    first = index_revision(chart_repo)
    assert f"✔ fetched revision {first}" in created.output

    listed = await kidp("get", "sources", "helm", "-n", namespace)
    assert listed.exit_code == 0, listed.output
    header, line = listed.stdout.splitlines()[:2]
    assert header.split()[:4] == ["NAME", "REVISION", "SUSPENDED", "READY"]
    assert line.split()[:4] == ["charts", first, "False", "True"]
    assert f"stored artifact: revision '{first}'" in line

    # A new chart version: `reconcile source helm` fetches the new index at once.
    chart_repo.publish("hello", "1.1.0")
    second = index_revision(chart_repo)
    reconciled = await kidp("reconcile", "source", "helm", "charts", "-n", namespace)
    assert reconciled.exit_code == 0, reconciled.output
    assert reconciled.output.splitlines()[-1] == f"✔ fetched revision {second}"

    # ...and a HelmChart on it, through `get/reconcile source chart`.
    await create(
        kube,
        "HelmChart",
        namespace,
        "hello",
        {
            "interval": "10m",
            "chart": "hello",
            "sourceRef": {"kind": "HelmRepository", "name": "charts"},
        },
    )
    await wait_ready(kube, "HelmChart", namespace, "hello", "True")
    chart = await kidp("reconcile", "source", "chart", "hello", "-n", namespace)
    assert chart.exit_code == 0, chart.output
    assert chart.output.splitlines()[-1] == "✔ fetched revision 1.1.0"
    rows = await kidp("get", "sources", "chart", "hello", "-n", namespace, "-o", "json")
    assert rows.exit_code == 0, rows.output
    assert '"revision": "1.1.0"' in rows.stdout


async def test_reconcile_source_helm_fails_with_the_reason(
    kidp: Kidp, kube: KubeClient, namespace: str, chart_repo: ChartRepo
) -> None:
    chart_repo.publish("hello", "1.0.0")
    await create(
        kube, "HelmRepository", namespace, "locked", {"interval": "10m", "url": chart_repo.url}
    )
    await wait_ready(kube, "HelmRepository", namespace, "locked", "False", "AuthenticationFailed")
    result = await kidp("reconcile", "source", "helm", "locked", "-n", namespace)
    assert result.exit_code == 1
    assert "(AuthenticationFailed)" in result.output.splitlines()[-1]
    missing = await kidp("reconcile", "source", "helm", "nothing", "-n", namespace)
    assert missing.exit_code == 1
    assert "nothing" in one_line(missing)

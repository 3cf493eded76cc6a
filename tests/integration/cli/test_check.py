"""`kidp check [--pre]`: the Kubernetes version, the CRDs, and the controllers."""

from __future__ import annotations

import pytest

from kidp_gitops.kube import KubeClient
from tests.integration.cli.conftest import Kidp
from tests.integration.wait import until


async def test_check_prerequisites(kidp: Kidp) -> None:
    result = await kidp("check", "--pre")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "► checking prerequisites"
    assert lines[1].startswith("✔ Kubernetes 1.")
    assert lines[1].endswith(">=1.28.0-0")
    assert lines[-1] == "✔ prerequisites checks passed"


@pytest.mark.usefixtures("engine")
async def test_check_installation(kidp: Kidp, kube: KubeClient, namespace: str) -> None:
    # Controllers that run outside the cluster (as in these tests) are a warning only.
    outside = await kidp("check", "-n", namespace)
    assert outside.exit_code == 0, outside.output
    assert "✔ kustomizations.kustomize.toolkit.fluxcd.io/v1" in outside.output
    assert "✔ gitrepositories.source.toolkit.fluxcd.io/v1" in outside.output
    assert "⚠ kidp-controller: no Deployment" in outside.output
    assert outside.output.splitlines()[-1] == "✔ all checks passed"

    # A controller Deployment in the namespace, found by Flux's label as `flux check`
    # finds them, must be available.
    labels = {"app": "source-controller"}
    await kube.create(
        f"/apis/apps/v1/namespaces/{namespace}/deployments",
        {
            "metadata": {
                "name": "source-controller",
                "labels": {**labels, "app.kubernetes.io/part-of": "flux"},
            },
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "manager", "image": "kidp:test"}]},
                },
            },
        },
    )

    async def available() -> bool:
        result = await kidp("check", "-n", namespace)
        return result.exit_code == 0 and "✔ source-controller: deployment ready" in result.output

    await until(available, 60, "the controller Deployment to be reported ready")

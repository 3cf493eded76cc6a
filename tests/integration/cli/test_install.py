"""`kidp version`, `kidp install --export`, and the kubeconfig context flag: what needs
no change to the shared cluster. (`install` itself runs on clusters of their own, in
test_bootstrap and test_uninstall.)"""

from __future__ import annotations

from pathlib import Path

import yaml

from kidp_gitops import __version__
from kidp_gitops.devcluster.kubeconfig import CONTEXT
from kidp_gitops.install import manifests
from kidp_gitops.views import kinds
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import dead_kubeconfig, one_line


async def test_version(kidp: Kidp) -> None:
    result = await kidp("version")
    assert result.exit_code == 0
    assert result.stdout == f"{__version__}\n"


async def test_install_export_prints_the_manifests_and_applies_nothing(
    kidp: Kidp, tmp_path: Path
) -> None:
    # No cluster is reachable: exporting must not need one.
    nowhere = {"KUBECONFIG": str(dead_kubeconfig(tmp_path))}
    exported = await kidp("install", "--export", "-n", "gitops", env=nowhere)
    assert exported.exit_code == 0, exported.output
    docs = [d for d in yaml.load_all(exported.stdout, Loader=yaml.CSafeLoader) if d]
    crds = {d["spec"]["names"]["kind"] for d in docs if d["kind"] == "CustomResourceDefinition"}
    assert {k.kind for k in kinds.ALL} <= crds
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert {d["metadata"]["namespace"] for d in deployments} == {"gitops"}
    assert sorted(d["metadata"]["name"] for d in deployments) == [
        "helm-controller",
        "kustomize-controller",
        "notification-controller",
        "source-controller",
    ]
    assert {"Namespace", "ServiceAccount", "ClusterRoleBinding"} <= {d["kind"] for d in docs}

    (container,) = deployments[0]["spec"]["template"]["spec"]["containers"]
    assert (
        container["image"] == manifests.IMAGE == f"ghcr.io/kidp-gitops/kidp-gitops:v{__version__}"
    )

    pushed = "registry.example:5000/platform/kidp-gitops:v1"
    chosen = await kidp("install", "--export", "--image", pushed, env=nowhere)
    assert chosen.exit_code == 0, chosen.output
    chosen_deployments = [
        d
        for d in yaml.load_all(chosen.stdout, Loader=yaml.CSafeLoader)
        if d and d["kind"] == "Deployment"
    ]
    assert len(chosen_deployments) == 4
    for deployment in chosen_deployments:
        containers = deployment["spec"]["template"]["spec"]["containers"]
        assert [c["image"] for c in containers] == [pushed]

    bare = await kidp("install", "--export", "--without-controllers", env=nowhere)
    assert bare.exit_code == 0, bare.output
    assert "kind: Deployment" not in bare.stdout
    assert "kind: CustomResourceDefinition" in bare.stdout


async def test_the_context_flag_picks_the_kubeconfig_context(kidp: Kidp, namespace: str) -> None:
    chosen = await kidp("get", "ks", "-n", namespace, "--context", CONTEXT)
    assert chosen.exit_code == 0, chosen.output
    assert "no objects found" in chosen.output
    unknown = await kidp("get", "ks", "-n", namespace, "--context", "nope")
    assert unknown.exit_code == 1
    assert "nope" in one_line(unknown)

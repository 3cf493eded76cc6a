"""`kidp diff kustomization` and `kidp build kustomization` against the real control
plane: created, drifted and pruned objects with flux's exit codes, Secret values never
shown, and the controller's substitution in a local build."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import one_line, synced_infrastructure
from tests.integration.kustomize.helpers import KS

pytestmark = pytest.mark.usefixtures("engine")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_diff_lists_created_drifted_and_pruned_objects(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    repo = await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)
    sys_ns = f"{namespace}-sys"
    # A Secret someone created by hand, which the change takes over with a new value.
    await kube.create(
        f"/api/v1/namespaces/{sys_ns}/secrets",
        {"metadata": {"name": "api-token"}, "data": {"token": b64("old-secret-value")}},
    )
    with git_repos.worktree(repo) as wt:
        infra = wt.path / "infrastructure"
        (infra / "kustomization.yaml").write_text(
            "resources:\n  - base/crds\n  - base/operators\n"  # the brokers leave Git
        )
        operators = infra / "base/operators"
        (operators / "secret.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "api-token", "namespace": sys_ns},
                    "stringData": {"token": "new-secret-value"},
                }
            )
        )
        (operators / "config.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "operator-config", "namespace": sys_ns},
                    "data": {"level": "debug"},
                }
            )
        )
        (operators / "kustomization.yaml").write_text(
            "resources: [namespace.yaml, serviceaccount.yaml, deployment.yaml, secret.yaml,"
            " config.yaml]\n"
        )

        result = await kidp("diff", "ks", "infrastructure", "-n", namespace, "--path", str(infra))

    assert result.exit_code == 1, result.output
    headlines = {line for line in result.stdout.splitlines() if line.startswith("►")}
    assert headlines == {
        f"► ConfigMap/{sys_ns}/operator-config created",
        f"► Secret/{sys_ns}/api-token drifted",
        f"► Broker/{sys_ns}/events deleted",
    }
    assert "****** (changed)" in result.stdout
    for secret in ("old-secret-value", "new-secret-value", b64("old-secret-value")):
        assert secret not in result.stdout
    assert b64("new-secret-value") not in result.stdout
    # Nothing was written.
    live = await kube.get(f"/api/v1/namespaces/{sys_ns}/secrets/api-token")
    assert live["data"]["token"] == b64("old-secret-value")


async def test_diff_errors_exit_2(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    unknown = await kidp("diff", "ks", "nope", "-n", namespace, "--path", str(tmp_path))
    assert unknown.exit_code == 2
    assert one_line(unknown) == f"✗ Kustomization '{namespace}/nope' not found"

    await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)
    missing = await kidp(
        "diff", "ks", "infrastructure", "-n", namespace, "--path", str(tmp_path / "absent")
    )
    assert missing.exit_code == 2
    assert one_line(missing) == f"✗ --path {tmp_path / 'absent'}: no such directory"

    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    broken = await kidp("diff", "ks", "infrastructure", "-n", namespace, "--path", str(tmp_path))
    assert broken.exit_code == 2
    assert one_line(broken).startswith("✗ build failed:")

    usage = await kidp("diff", "ks", "infrastructure")
    assert usage.exit_code == 2
    assert "Missing option '--path'" in one_line(usage)


async def test_build_renders_a_local_directory_as_the_controller_would(
    kidp: Kidp, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    await kube.create(
        f"/api/v1/namespaces/{namespace}/configmaps",
        {"metadata": {"name": "cluster-vars"}, "data": {"greeting": "hello", "replicas": "4"}},
    )
    ks = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": namespace},
        "spec": {
            "interval": "5m",
            "path": "./apps",
            "prune": True,
            "targetNamespace": namespace,
            "sourceRef": {"kind": "GitRepository", "name": "absent"},
            "postBuild": {
                "substitute": {"greeting": "hi"},
                "substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars"}],
            },
        },
    }
    await kube.create(KS.format(ns=namespace), ks)
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "app.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
        "  annotations:\n    greeting: ${greeting}\n"
        "spec:\n  replicas: ${replicas}\n  selector:\n    matchLabels: {app: web}\n"
        "  template:\n    metadata:\n      labels: {app: web}\n"
        "    spec:\n      containers: [{name: web, image: nginx}]\n"
    )

    result = await kidp("build", "kustomization", "apps", "-n", namespace, "--path", str(apps))
    assert result.exit_code == 0, result.output
    (deploy,) = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert deploy["metadata"]["namespace"] == namespace  # targetNamespace
    assert deploy["metadata"]["annotations"]["greeting"] == "hi"  # substitute wins
    assert deploy["spec"]["replicas"] == 4  # substituteFrom, typed as the controller types it
    assert deploy["metadata"]["labels"] == {
        "kustomize.toolkit.fluxcd.io/name": "apps",
        "kustomize.toolkit.fluxcd.io/namespace": namespace,
    }

    # The same directory diffed: everything is new.
    diff = await kidp("diff", "ks", "apps", "-n", namespace, "--path", str(apps))
    assert diff.exit_code == 1
    assert diff.stdout.strip() == f"► Deployment/{namespace}/web created"

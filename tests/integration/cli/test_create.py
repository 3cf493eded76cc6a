"""`kidp create source git | kustomization | helmrelease`: exported YAML, or applied and
waited for until Ready; bad flag values fail with the field they break."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import Result

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import one_line
from tests.integration.helm.helpers import DEPLOY, HR, condition
from tests.integration.kustomize.helpers import GIT, example_files, setup_source

pytestmark = pytest.mark.usefixtures("engine")


async def test_create_a_source_and_a_kustomization_and_wait(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    repo = unique_repo("create")
    with git_repos.worktree(repo) as wt:
        wt.write(example_files(namespace))
        sha = wt.commit("initial")
        wt.push()

    source = await kidp(
        "create", "source", "git", "infra", "--url", http_git.url(repo), "--branch", "main",
        "--username", http_git.username, "--password", http_git.password, "-n", namespace,
    )  # fmt: skip
    assert source.exit_code == 0, source.output
    assert f"✔ fetched revision main@sha1:{sha}" in source.output
    secret = await kube.get(f"/api/v1/namespaces/{namespace}/secrets/infra")
    assert base64.b64decode(secret["data"]["username"]).decode() == http_git.username
    created = await kube.get(f"{GIT.format(ns=namespace)}/infra")
    assert created["spec"]["secretRef"] == {"name": "infra"}

    ks = await kidp(
        "create", "kustomization", "teams", "--source", f"GitRepository/infra.{namespace}",
        "--path", "./teams", "--prune", "-n", namespace,
    )  # fmt: skip
    assert ks.exit_code == 0, ks.output
    assert ks.output.splitlines()[-1] == f"✔ applied revision main@sha1:{sha}"

    # Created again with other flags: updated in place.
    again = await kidp(
        "create", "source", "git", "infra", "--url", http_git.url(repo), "--branch", "main",
        "--secret-ref", "infra", "--interval", "5m", "-n", namespace,
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert (await kube.get(f"{GIT.format(ns=namespace)}/infra"))["spec"]["interval"] == "5m"


async def test_create_export_prints_what_it_would_apply(
    kidp: Kidp, namespace: str, tmp_path: Path
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("replicaCount: 2\nimage:\n  tag: 6.0.0\n")
    result = await kidp(
        "create", "helmrelease", "podinfo", "--source", "HelmRepository/podinfo",
        "--chart", "podinfo", "--chart-version", ">=6.0.0", "--values", str(values),
        "--target-namespace", "apps", "--label", "team=web", "-n", namespace, "--export",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (hr,) = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert hr["apiVersion"] == "helm.toolkit.fluxcd.io/v2"
    assert hr["metadata"] == {"name": "podinfo", "namespace": namespace, "labels": {"team": "web"}}
    assert hr["spec"]["chart"]["spec"] == {
        "chart": "podinfo",
        "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
        "version": ">=6.0.0",
    }
    assert hr["spec"]["values"] == {"replicaCount": 2, "image": {"tag": "6.0.0"}}
    assert hr["spec"]["targetNamespace"] == "apps"


async def test_create_rejects_bad_values(kidp: Kidp, namespace: str) -> None:
    url = await kidp("create", "source", "git", "x", "--url", "ftp://host/repo", "-n", namespace)
    assert url.exit_code == 1
    assert one_line(url).startswith("✗ invalid GitRepository/x: spec.url:")
    interval = await kidp(
        "create", "ks", "x", "--source", "GitRepository/x", "--interval", "often", "--export"
    )
    assert interval.exit_code == 1
    assert "spec.interval: 'often' is not a duration" in one_line(interval)
    source = await kidp("create", "ks", "x", "--source", "Helm/x", "--export")
    assert source.exit_code == 1
    assert one_line(source).startswith("✗ --source 'Helm/x': write Kind/name")


async def test_create_a_helmrelease_and_wait_until_installed(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, example_files(namespace))
    values = tmp_path / "values.yaml"

    async def create(replicas: int) -> Result:
        values.write_text(f"replicaCount: {replicas}\n")
        return await kidp(
            "create", "helmrelease", "operators", "--source", "GitRepository/kidp-infrastructure",
            "--chart", "./charts/operators", "--values", str(values), "-n", namespace,
        )  # fmt: skip

    installed = await create(2)
    assert installed.exit_code == 0, installed.output
    assert "✔ HelmRelease reconciliation completed" in installed.output
    assert installed.output.splitlines()[-1] == "✔ applied revision 0.1.0"
    # When the command returns, the release is installed and its Deployment exists.
    hr = await kube.get(f"{HR.format(ns=namespace)}/operators")
    assert hr["spec"]["chart"]["spec"]["sourceRef"] == {
        "kind": "GitRepository",
        "name": "kidp-infrastructure",
    }
    assert hr["status"]["observedGeneration"] == hr["metadata"]["generation"]
    assert condition(hr)["reason"] == "InstallSucceeded"
    deployment = DEPLOY.format(ns=namespace, name="operators")
    assert (await kube.get(deployment))["spec"]["replicas"] == 2

    # Created again with other values: upgraded, and waited for (not the old Ready).
    upgraded = await create(3)
    assert upgraded.exit_code == 0, upgraded.output
    hr = await kube.get(f"{HR.format(ns=namespace)}/operators")
    assert condition(hr)["reason"] == "UpgradeSucceeded"
    assert hr["status"]["history"][0]["version"] == 2
    assert (await kube.get(deployment))["spec"]["replicas"] == 3


async def test_create_a_helmrelease_of_a_missing_source_times_out(
    kidp: Kidp, kube: KubeClient, namespace: str
) -> None:
    result = await kidp(
        "create", "hr", "orphan", "--source", "GitRepository/missing", "--chart", "./charts/x",
        "--timeout", "5s", "-n", namespace,
    )  # fmt: skip
    assert result.exit_code == 1
    last = result.output.splitlines()[-1]
    assert last.startswith(f"✗ HelmRelease '{namespace}/orphan' not ready in time: "), last
    assert last.endswith(f"GitRepository '{namespace}/missing' not found")  # the reason
    await kube.get(f"{HR.format(ns=namespace)}/orphan")  # applied, and left to converge

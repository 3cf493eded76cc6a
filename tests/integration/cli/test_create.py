"""`kidp create source git | kustomization | helmrelease`: exported YAML, or applied and
waited for until Ready; bad flag values fail with the field they break."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import one_line
from tests.integration.kustomize.helpers import GIT, example_files

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

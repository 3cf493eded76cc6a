"""`kidp suspend` / `kidp resume`: one object or `--all`, the controller leaves a
suspended object alone, and resuming waits for the reconciliation it requests."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import yaml

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import HR, helmrelease, one_line, synced_infrastructure
from tests.integration.kustomize.helpers import GIT, KS

pytestmark = pytest.mark.usefixtures("engine")


async def test_suspend_and_resume_a_kustomization(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)
    path = f"{KS.format(ns=namespace)}/infrastructure"

    suspended = await kidp("suspend", "kustomization", "infrastructure", "-n", namespace)
    assert suspended.exit_code == 0, suspended.output
    assert suspended.output.splitlines() == [
        f"► suspending Kustomization infrastructure in {namespace} namespace",
        "✔ Kustomization suspended",
    ]
    assert (await kube.get(path))["spec"]["suspend"] is True
    rows = json.loads((await kidp("get", "ks", "-n", namespace, "-o", "json")).stdout)
    assert rows[0]["suspended"] is True

    resumed = await kidp("resume", "ks", "infrastructure", "-n", namespace)
    assert resumed.exit_code == 0, resumed.output
    assert "✔ Kustomization resumed" in resumed.output
    assert resumed.output.splitlines()[-1].startswith("✔ applied revision main@sha1:")
    obj = await kube.get(path)
    assert obj["spec"]["suspend"] is False
    handled = obj["status"]["lastHandledReconcileAt"]
    assert handled == obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]


async def test_suspend_all_sources_and_resume_without_waiting(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)
    result = await kidp("suspend", "source", "git", "--all", "-n", namespace)
    assert result.exit_code == 0, result.output
    source = await kube.get(f"{GIT.format(ns=namespace)}/kidp-infrastructure")
    assert source["spec"]["suspend"] is True

    again = await kidp("resume", "source", "git", "--all", "--no-wait", "-n", namespace)
    assert again.exit_code == 0, again.output
    assert "waiting" not in again.output
    source = await kube.get(f"{GIT.format(ns=namespace)}/kidp-infrastructure")
    assert source["spec"]["suspend"] is False


async def test_suspend_export_and_resume_a_helmrelease(
    kidp: Kidp, kube: KubeClient, namespace: str
) -> None:
    await kube.create(HR.format(ns=namespace), helmrelease("podinfo", timeout="3m"))
    path = f"{HR.format(ns=namespace)}/podinfo"

    suspended = await kidp("suspend", "hr", "podinfo", "-n", namespace)
    assert suspended.exit_code == 0, suspended.output
    assert "✔ HelmRelease suspended" in suspended.output
    assert (await kube.get(path))["spec"]["suspend"] is True

    # The export is what a person wrote (and the suspension), ready to apply again.
    exported = await kidp("export", "helmrelease", "--all", "-n", namespace)
    assert exported.exit_code == 0, exported.output
    (doc,) = [d for d in yaml.safe_load_all(exported.stdout) if d]
    assert doc["metadata"] == {"name": "podinfo", "namespace": namespace}
    assert (doc["spec"]["timeout"], doc["spec"]["suspend"]) == ("3m", True)
    assert doc["spec"]["chart"]["spec"]["sourceRef"] == {
        "kind": "HelmRepository",
        "name": "podinfo",
    }
    assert "status" not in doc

    resumed = await kidp("resume", "hr", "podinfo", "--no-wait", "-n", namespace)
    assert resumed.exit_code == 0, resumed.output
    obj = await kube.get(path)
    assert obj["spec"]["suspend"] is False
    assert "reconcile.fluxcd.io/requestedAt" in obj["metadata"]["annotations"]


async def test_suspend_needs_one_name_or_all(kidp: Kidp, namespace: str) -> None:
    neither = await kidp("suspend", "ks", "-n", namespace)
    assert neither.exit_code == 1
    assert one_line(neither) == "✗ name one object, or pass --all (not both)"
    missing = await kidp("resume", "hr", "nope", "-n", namespace)
    assert missing.exit_code == 1
    assert one_line(missing) == f"✗ HelmRelease '{namespace}/nope' not found"
    none = await kidp("suspend", "ks", "--all", "-n", namespace)
    assert none.exit_code == 1
    assert one_line(none) == f"✗ no Kustomization objects in {namespace} namespace"

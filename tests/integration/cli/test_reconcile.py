"""`kidp reconcile` and `kidp diff` together, as the issue's acceptance reads: a change
to the example repository is shown by `kidp diff` before it is pushed, and applied
within seconds of `kidp reconcile source git kidp-infrastructure` after; `--with-source`
fetches and applies in one command; a failed reconciliation exits non-zero with the
controller's message."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import one_line, synced_infrastructure
from tests.integration.kustomize.helpers import KS, prd_infrastructure
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")

DEPLOYMENT = "infrastructure/base/operators/deployment.yaml"


async def test_diff_shows_a_change_that_reconcile_then_applies_within_seconds(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    repo = await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)
    operator = f"/apis/apps/v1/namespaces/{namespace}-sys/deployments/kidp-operator"
    with git_repos.worktree(repo) as wt:
        manifest = wt.path / DEPLOYMENT
        manifest.write_text(manifest.read_text().replace("replicas: 1", "replicas: 2"))

        before = await kidp(
            "diff", "kustomization", "infrastructure", "-n", namespace,
            "--path", str(wt.path / "infrastructure"),
        )  # fmt: skip
        assert before.exit_code == 1, before.output
        assert f"► Deployment/{namespace}-sys/kidp-operator drifted" in before.stdout
        assert "-  replicas: 1" in before.stdout
        assert "+  replicas: 2" in before.stdout
        assert "managedFields" not in before.stdout
        assert "resourceVersion" not in before.stdout
        assert (await kube.get(operator))["spec"]["replicas"] == 1  # a diff changes nothing

        wt.git("add", "-A")
        sha = wt.commit("two operators")
        wt.push()
        began = time.monotonic()
        fetched = await kidp("reconcile", "source", "git", "kidp-infrastructure", "-n", namespace)
        assert fetched.exit_code == 0, fetched.output
        assert f"✔ fetched revision main@sha1:{sha}" in fetched.output

        async def scaled() -> bool:
            return bool((await kube.get(operator))["spec"]["replicas"] == 2)

        await until(scaled, 15, "the pushed change to be applied")
        assert time.monotonic() - began < 15

        after = await kidp(
            "diff",
            "ks",
            "infrastructure",
            "-n",
            namespace,
            "--path",
            str(wt.path / "infrastructure"),
        )
        assert after.exit_code == 0, after.output
        assert after.stdout == ""


async def test_reconcile_kustomization_with_source_fetches_and_applies(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    repo = await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)
    with git_repos.worktree(repo) as wt:
        manifest = wt.path / DEPLOYMENT
        manifest.write_text(manifest.read_text().replace("replicas: 1", "replicas: 3"))
        wt.git("add", "-A")
        sha = wt.commit("three operators")
        wt.push()

    result = await kidp("reconcile", "ks", "infrastructure", "--with-source", "-n", namespace)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"► annotating GitRepository kidp-infrastructure in {namespace} namespace"
    assert f"✔ fetched revision main@sha1:{sha}" in lines
    assert f"► annotating Kustomization infrastructure in {namespace} namespace" in lines
    assert lines[-1] == f"✔ applied revision main@sha1:{sha}"
    deploy = await kube.get(f"/apis/apps/v1/namespaces/{namespace}-sys/deployments/kidp-operator")
    assert deploy["spec"]["replicas"] == 3  # applied when the command returned
    ks = await kube.get(f"{KS.format(ns=namespace)}/infrastructure")
    requested = ks["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
    assert ks["status"]["lastHandledReconcileAt"] == requested


async def test_a_failed_reconciliation_exits_non_zero_with_the_reason(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)
    broken = prd_infrastructure(namespace, path="./not-there", healthChecks=[])
    broken["metadata"]["name"] = "broken"
    await kube.create(KS.format(ns=namespace), broken)

    result = await kidp("reconcile", "ks", "broken", "-n", namespace, "--timeout", "60s")
    assert result.exit_code == 1, result.output
    last = result.output.splitlines()[-1]
    assert last.startswith(f"✗ Kustomization '{namespace}/broken' reconciliation failed")
    assert "not-there" in last
    assert "does not exist" in last


async def test_reconcile_refuses_unknown_and_suspended_objects(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    unknown = await kidp("reconcile", "source", "git", "nope", "-n", namespace)
    assert unknown.exit_code == 1
    assert one_line(unknown) == f"✗ GitRepository '{namespace}/nope' not found"

    await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)
    await kube.patch(f"{KS.format(ns=namespace)}/infrastructure", {"spec": {"suspend": True}})
    suspended = await kidp("reconcile", "ks", "infrastructure", "-n", namespace)
    assert suspended.exit_code == 1
    assert "is suspended: resume it first (kidp resume kustomization" in one_line(suspended)

    bad_timeout = await kidp("reconcile", "ks", "infrastructure", "--timeout", "soon")
    assert bad_timeout.exit_code == 1
    assert "--timeout" in one_line(bad_timeout)

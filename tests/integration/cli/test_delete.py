"""`kidp delete`: asks first (unless --silent), deletes, and with --wait waits for the
controller to finalize — a pruning Kustomization takes its objects with it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kidp_gitops.kube import ApiError, KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import one_line, synced_infrastructure
from tests.integration.kustomize.helpers import KS

pytestmark = pytest.mark.usefixtures("engine")


async def test_delete_a_kustomization(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)
    path = f"{KS.format(ns=namespace)}/infrastructure"

    declined = await kidp("delete", "ks", "infrastructure", "-n", namespace, input="n\n")
    assert declined.exit_code == 1
    assert "and every object it applied (prune is on)" in declined.output
    assert declined.output.splitlines()[-1] == "✗ aborted: nothing deleted"
    await kube.get(path)  # still there

    deleted = await kidp("delete", "ks", "infrastructure", "-n", namespace, "-s", "--wait")
    assert deleted.exit_code == 0, deleted.output
    assert deleted.output.splitlines()[-1] == "✔ Kustomization deleted"
    with pytest.raises(ApiError) as gone:
        await kube.get(f"/apis/apps/v1/namespaces/{namespace}-sys/deployments/kidp-operator")
    assert gone.value.not_found  # pruned by the finalizer

    missing = await kidp("delete", "source", "git", "nope", "-n", namespace, "-s")
    assert missing.exit_code == 1
    assert one_line(missing) == f"✗ GitRepository '{namespace}/nope' not found"

"""A HelmRelease's `dependsOn[].readyExpr` on the real control plane: the expression,
not the dependency's Ready condition, decides when the release may install (Flux's
default, without the AdditiveCELDependencyCheck feature gate)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import (
    HR,
    NAME,
    condition,
    prd_release,
    release,
    release_secrets,
    wait_hr,
)

pytestmark = pytest.mark.usefixtures("engine")


async def test_ready_expr_decides_instead_of_the_ready_condition(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    # The dependency is suspended: it never reconciles, so it is never Ready.
    dependency = prd_release(namespace)
    dependency["metadata"]["labels"] = {"stage": "pending"}
    dependency["spec"]["suspend"] = True
    await release(kube, namespace, git_repos, http_git, unique_repo, hr=dependency, ready=None)

    later = prd_release(namespace)
    later["metadata"]["name"] = "later"
    later["spec"]["dependsOn"] = [
        {"name": NAME, "readyExpr": "dep.metadata.labels.stage == 'done'"}
    ]
    await kube.create(HR.format(ns=namespace), later)
    waiting = await wait_hr(kube, namespace, "later", "False", "DependencyNotReady")
    assert condition(waiting)["message"] == (
        f"dependency '{namespace}/{NAME}' is not ready according to its readyExpr"
    )
    assert not await release_secrets(kube, namespace, "later")

    await kube.patch(
        f"{HR.format(ns=namespace)}/{NAME}", {"metadata": {"labels": {"stage": "done"}}}
    )
    await wait_hr(kube, namespace, "later", "True", "InstallSucceeded", timeout=120)
    assert await release_secrets(kube, namespace, "later")

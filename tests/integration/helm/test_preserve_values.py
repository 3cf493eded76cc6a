"""`spec.upgrade.preserveValues` on the real control plane with the real helm: an upgrade
keeps the last release's values and merges the new ones over them (helm's
--reuse-values), and the merged release is not upgraded again and again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import (
    DEPLOY,
    HR,
    NAME,
    HelmRuns,
    handled,
    prd_release,
    release,
    request,
    wait_hr,
)
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")


async def deployment(kube: KubeClient, namespace: str, image: str, replicas: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        dep = await kube.get(DEPLOY.format(ns=namespace, name=NAME))
        found = dep["spec"]["template"]["spec"]["containers"][0]["image"]
        return dep if (found, dep["spec"]["replicas"]) == (image, replicas) else None

    return await until(probe, 60, f"Deployment {NAME} with {image} and {replicas} replicas")


async def test_preserved_values_keep_what_the_last_release_had(
    helm_runs: HelmRuns,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    hr = prd_release(namespace)
    hr["spec"]["values"] = {"replicaCount": 3, "image": {"tag": "v1.1.0"}}
    hr["spec"]["upgrade"] = {"preserveValues": True}
    await release(kube, namespace, git_repos, http_git, unique_repo, hr=hr)
    await deployment(kube, namespace, "ghcr.io/kidp/operators:v1.1.0", 3)

    # The image tag leaves the values: with preserveValues the last release's tag stays
    # (without it, the chart's default v1.0.0 would come back); the new count applies.
    await kube.patch(
        f"{HR.format(ns=namespace)}/{NAME}",
        {"spec": {"values": {"replicaCount": 2, "image": None}}},
    )
    obj = await wait_hr(kube, namespace, NAME, "True", "UpgradeSucceeded")
    assert obj["status"]["history"][0]["version"] == 2
    await deployment(kube, namespace, "ghcr.io/kidp/operators:v1.1.0", 2)

    # The stored values (merged) differ from the HelmRelease's, and that is no reason to
    # upgrade: a requested reconcile starts no helm process and makes no revision.
    started = helm_runs(namespace)
    stamp = await request(kube, namespace)
    obj = await wait_hr(kube, namespace, NAME, check=handled(stamp))
    assert obj["status"]["history"][0]["version"] == 2
    assert started == []

    # Without preserveValues the next upgrade takes the values as they are written.
    await kube.patch(
        f"{HR.format(ns=namespace)}/{NAME}",
        {"spec": {"upgrade": None, "values": {"replicaCount": 1}}},
    )
    await wait_hr(
        kube,
        namespace,
        NAME,
        "True",
        "UpgradeSucceeded",
        lambda o: o["status"]["history"][0]["version"] == 3,
    )
    await deployment(kube, namespace, "ghcr.io/kidp/operators:v1.0.0", 1)

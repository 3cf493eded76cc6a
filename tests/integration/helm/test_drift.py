"""`spec.driftDetection` on the real control plane with the real helm: a change made by
hand to an object of the release is reported (`warn`: Drifted condition and a
DriftDetected event, the object left alone) or put back (`enabled`, without a new
release revision); `ignore` paths are not drift and are not reset; a deleted object is
created again."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import (
    DEPLOY,
    HR,
    NAME,
    condition,
    event_reasons,
    handled,
    prd_release,
    release,
    request,
    wait_hr,
)
from tests.integration.kustomize.helpers import exists
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")


async def replicas(kube: KubeClient, namespace: str) -> int:
    dep = await kube.get(DEPLOY.format(ns=namespace, name=NAME))
    return int(dep["spec"]["replicas"])


async def test_drift_is_reported_in_warn_mode_and_corrected_when_enabled(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    hr = prd_release(namespace)
    hr["spec"]["driftDetection"] = {"mode": "warn"}
    obj = await release(kube, namespace, git_repos, http_git, unique_repo, hr=hr)
    assert condition(obj, "Drifted") == {}
    assert await replicas(kube, namespace) == 3

    # Someone scales the Deployment by hand.
    deploy = DEPLOY.format(ns=namespace, name=NAME)
    await kube.patch(deploy, {"spec": {"replicas": 1}})
    stamp = await request(kube, namespace)
    obj = await wait_hr(kube, namespace, NAME, "True", check=handled(stamp))
    drifted = condition(obj, "Drifted")
    assert (drifted.get("status"), drifted.get("reason")) == ("True", "DriftDetected")
    assert f"Deployment/{namespace}/{NAME} changed at /spec/replicas" in drifted["message"]
    assert await replicas(kube, namespace) == 1  # warn: left alone
    assert "DriftDetected" in await event_reasons(kube, namespace)

    # enabled: put back, no new release revision, the condition goes.
    path = f"{HR.format(ns=namespace)}/{NAME}"
    await kube.patch(path, {"spec": {"driftDetection": {"mode": "enabled"}}})
    obj = await wait_hr(kube, namespace, NAME, "True", check=lambda o: not condition(o, "Drifted"))
    assert await replicas(kube, namespace) == 3
    assert obj["status"]["history"][0]["version"] == 1
    assert "DriftCorrected" in await event_reasons(kube, namespace)

    # Helm still owns its fields after the correction: an upgrade meets no conflict.
    await kube.patch(path, {"spec": {"values": {"replicaCount": 2}}})
    obj = await wait_hr(kube, namespace, NAME, "True", "UpgradeSucceeded")
    assert obj["status"]["history"][0]["version"] == 2
    assert await replicas(kube, namespace) == 2

    # A deleted object is created again.
    await kube.delete(deploy)

    async def recreated() -> bool:
        await request(kube, namespace)
        return await exists(kube, deploy) and await replicas(kube, namespace) == 2

    await until(recreated, 90, "the deleted Deployment to be created again")


async def test_ignored_paths_are_not_drift_and_not_reset(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    hr = prd_release(namespace)
    hr["spec"]["driftDetection"] = {
        "mode": "enabled",
        "ignore": [{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}],
    }
    await release(kube, namespace, git_repos, http_git, unique_repo, hr=hr)

    deploy = DEPLOY.format(ns=namespace, name=NAME)
    await kube.patch(deploy, {"spec": {"replicas": 2}})
    stamp = await request(kube, namespace)
    obj = await wait_hr(kube, namespace, NAME, "True", check=handled(stamp))
    assert condition(obj, "Drifted") == {}
    assert await replicas(kube, namespace) == 2  # ignored: kept as set by hand
    assert "DriftCorrected" not in await event_reasons(kube, namespace)

    # A field that is not ignored is still put back, and the ignored one left alone.
    await kube.patch(
        deploy,
        {"spec": {"template": {"spec": {"containers": [{"name": "operator", "image": "x:1"}]}}}},
    )
    stamp = await request(kube, namespace)
    await wait_hr(kube, namespace, NAME, "True", check=handled(stamp))
    dep = await kube.get(deploy)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v1.0.0")
    assert dep["spec"]["replicas"] == 2

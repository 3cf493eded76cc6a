"""`spec.postRenderers` on the real control plane with the real helm and kustomize:
patches (inline JSON 6902 and strategic merge, the deprecated lists too) and images
change what helm installs, in order; a change of the post-renderers alone upgrades the
release; a post-renderer that fails says why in kustomize's words and installs nothing."""

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
    condition,
    prd_release,
    release,
    wait_hr,
)
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")

LABEL = """\
- op: add
  path: /metadata/labels/environment
  value: staging
"""
REPLICAS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kidp-operators
spec:
  replicas: 2
"""


def renderers(tag: str) -> list[dict[str, Any]]:
    return [
        {
            "kustomize": {
                "patches": [
                    {"target": {"kind": "Deployment", "name": NAME}, "patch": LABEL},
                    {"patch": REPLICAS},
                ],
                "images": [{"name": "ghcr.io/kidp/operators", "newTag": tag}],
            }
        },
        # Applied after the first: it sees (and overrides) what the first one made.
        {
            "kustomize": {
                "patchesJson6902": [
                    {
                        "target": {"version": "v1", "kind": "Deployment", "name": NAME},
                        "patch": [
                            {"op": "replace", "path": "/metadata/labels/environment", "value": "qa"}
                        ],
                    }
                ],
                "patchesStrategicMerge": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {"name": NAME, "annotations": {"post-rendered": "yes"}},
                    }
                ],
            }
        },
    ]


async def deployment(
    kube: KubeClient, namespace: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        dep = await kube.get(DEPLOY.format(ns=namespace, name=NAME))
        return dep if check(dep) else None

    return await until(probe, 60, f"Deployment {NAME} as expected")


def image(dep: dict[str, Any]) -> str:
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


async def test_post_renderers_patch_what_helm_installs_and_their_change_upgrades(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    hr = prd_release(namespace)
    hr["spec"]["postRenderers"] = renderers("v2.0.0")
    obj = await release(kube, namespace, git_repos, http_git, unique_repo, hr=hr)
    first = obj["status"]["observedPostRenderersDigest"]
    assert first.startswith("sha256:")

    dep = await kube.get(DEPLOY.format(ns=namespace, name=NAME))
    assert dep["metadata"]["labels"]["environment"] == "qa"  # the second after the first
    assert dep["metadata"]["annotations"]["post-rendered"] == "yes"
    assert dep["spec"]["replicas"] == 2  # the patch over the chart's value of 3
    assert image(dep) == "ghcr.io/kidp/operators:v2.0.0"

    # Only the post-renderers change: the release is upgraded with them.
    await kube.patch(
        f"{HR.format(ns=namespace)}/{NAME}", {"spec": {"postRenderers": renderers("v2.1.0")}}
    )
    obj = await wait_hr(
        kube,
        namespace,
        NAME,
        "True",
        "UpgradeSucceeded",
        lambda o: o["status"]["observedPostRenderersDigest"] != first,
    )
    assert obj["status"]["history"][0]["version"] == 2
    await deployment(kube, namespace, lambda d: image(d).endswith(":v2.1.0"))

    # A patch kustomize cannot apply: the upgrade fails in kustomize's words, the
    # deployed revision stays.
    broken = [
        {
            "kustomize": {
                "patches": [
                    {
                        "target": {"kind": "Deployment"},
                        "patch": "- op: replace\n  path: /spec/nowhere/replicas\n  value: 1\n",
                    }
                ]
            }
        }
    ]
    await kube.patch(f"{HR.format(ns=namespace)}/{NAME}", {"spec": {"postRenderers": broken}})
    obj = await wait_hr(kube, namespace, NAME, "False", "UpgradeFailed")
    message = condition(obj)["message"]
    assert "post-renderer failed" in message
    assert "nowhere" in message
    assert image(await kube.get(DEPLOY.format(ns=namespace, name=NAME))).endswith(":v2.1.0")

    # No post-renderers: the chart's own manifests again.
    await kube.patch(f"{HR.format(ns=namespace)}/{NAME}", {"spec": {"postRenderers": None}})
    obj = await wait_hr(kube, namespace, NAME, "True", "UpgradeSucceeded")
    assert "observedPostRenderersDigest" not in obj["status"]
    dep = await deployment(kube, namespace, lambda d: image(d).endswith(":v1.0.0"))
    assert "environment" not in dep["metadata"]["labels"]
    assert dep["spec"]["replicas"] == 3

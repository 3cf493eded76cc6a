"""`spec.kubeConfig` is refused until remote clusters are implemented (issue 11): an
object meant for another cluster must never reach this one. It used to be applied here,
with the engine's identity, and reported Ready."""

from __future__ import annotations

from collections.abc import Callable

from kidp_gitops.engine.run import Engine
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import HC, HR, condition, release_secrets, wait_hr
from tests.integration.kustomize.helpers import (
    KS,
    configmap,
    exists,
    kustomization,
    manifests,
    ready,
    setup_source,
    wait_ready,
)
from tests.integration.security.helpers import helmrelease, tenant_charts, warned
from tests.integration.wait import until

REMOTE = {"secretRef": {"name": "remote-cluster", "key": "value"}}
MESSAGE = (
    "spec.kubeConfig is set, but kidp-gitops does not support it: applying to a remote "
    "cluster is not implemented yet, and nothing meant for another cluster may reach this one"
)


async def test_nothing_reaches_this_cluster(
    kube: KubeClient,
    namespace: str,
    engine: Engine,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = {**manifests(configmap("remote-only", namespace)), **tenant_charts()}
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await kube.create(KS.format(ns=namespace), kustomization("remote", "apps", kubeConfig=REMOTE))
    await kube.create(HR.format(ns=namespace), helmrelease("remote", "plain", kubeConfig=REMOTE))
    # The positive control: the same objects without the field are applied.
    await kube.create(KS.format(ns=namespace), kustomization("local", "apps"))

    ks = await wait_ready(kube, namespace, "remote", "False", "UnsupportedField")
    assert ready(ks)["message"] == MESSAGE
    assert condition(ks, "Stalled")["status"] == "True"
    hr = await wait_hr(kube, namespace, "remote", "False", "UnsupportedField")
    assert condition(hr)["message"] == MESSAGE
    assert condition(hr, "Stalled")["status"] == "True"
    await warned(kube, namespace, "Kustomization", "remote", "UnsupportedField", "kubeConfig")
    await warned(kube, namespace, "HelmRelease", "remote", "UnsupportedField", "kubeConfig")
    assert not await release_secrets(kube, namespace, "remote")
    assert not await exists(kube, f"{HC.format(ns=namespace)}/{namespace}-remote")
    await wait_ready(kube, namespace, "local")

    # Taking the field away is a new attempt; it applies what was waiting.
    await kube.delete(f"{KS.format(ns=namespace)}/local")
    await kube.patch(
        f"{KS.format(ns=namespace)}/remote",
        [{"op": "remove", "path": "/spec/kubeConfig"}],
        content_type="application/json-patch+json",
    )
    await wait_ready(kube, namespace, "remote")
    assert await exists(kube, f"/api/v1/namespaces/{namespace}/configmaps/remote-only")

    # Deleting a refused object does not wait on a cleanup of what it never did.
    await kube.delete(f"{HR.format(ns=namespace)}/remote")

    async def gone() -> bool:
        return not await exists(kube, f"{HR.format(ns=namespace)}/remote")

    await until(gone, 30, "the refused HelmRelease to be deleted")

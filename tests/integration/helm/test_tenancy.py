"""Where a release goes and as whom: `targetNamespace` with `install.createNamespace`
names the release `<targetNamespace>-<name>` and installs it there;
`serviceAccountName` makes helm act as that account, so its RBAC decides."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kidp_gitops.kube import ApiError, KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import (
    DEPLOY,
    HR,
    NAME,
    condition,
    prd_release,
    release,
    release_secrets,
    wait_hr,
)
from tests.integration.kustomize.helpers import example_files, exists, setup_source
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")


async def test_target_namespace_created_and_release_named_after_it(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    target = f"{namespace}-apps"
    hr = prd_release(namespace)
    hr["spec"]["targetNamespace"] = target
    hr["spec"]["install"] = {"createNamespace": True}
    await release(kube, namespace, git_repos, http_git, unique_repo, hr=hr, ready=None)
    try:
        obj = await wait_hr(kube, namespace, NAME, "True", "InstallSucceeded")
        name = f"{target}-{NAME}"
        assert obj["status"]["history"][0]["name"] == name
        assert obj["status"]["storageNamespace"] == target
        assert await exists(kube, DEPLOY.format(ns=target, name=name))
        assert await release_secrets(kube, target, name)

        await kube.delete(f"{HR.format(ns=namespace)}/{NAME}")

        async def uninstalled() -> bool:
            return not await exists(kube, DEPLOY.format(ns=target, name=name))

        await until(uninstalled, 90, "the release in the target namespace to be uninstalled")
    finally:
        try:
            await kube.delete(f"/api/v1/namespaces/{target}")
        except ApiError as err:
            if not err.not_found:
                raise


async def test_service_account_rbac_decides_what_helm_may_do(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, example_files(namespace))
    await kube.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": "deployer"}}
    )
    hr = prd_release(namespace)
    hr["spec"]["serviceAccountName"] = "deployer"
    await kube.create(HR.format(ns=namespace), hr)

    # Everything for the release runs as the account, from the first read of Helm's
    # storage (as in Flux): RBAC refuses it there already.
    denied = await wait_hr(kube, namespace, NAME, "False", "GetLastReleaseFailed")
    message = condition(denied)["message"]
    assert "forbidden" in message
    assert f"system:serviceaccount:{namespace}:deployer" in message
    assert not await exists(kube, DEPLOY.format(ns=namespace, name=NAME))

    await kube.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
        {
            "metadata": {"name": "deployer-admin"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}],
        },
    )
    # Retried with backoff once RBAC allows it; a spec change tries at once.
    await kube.patch(f"{HR.format(ns=namespace)}/{NAME}", {"spec": {"timeout": "2m"}})
    await wait_hr(kube, namespace, NAME, "True", "InstallSucceeded")
    dep = await kube.get(DEPLOY.format(ns=namespace, name=NAME))
    assert dep["spec"]["replicas"] == 3


async def test_storage_namespace_apart_from_the_release_is_stalled(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    # helm v4's CLI stores a release in the namespace it installs to (one --namespace).
    hr = prd_release(namespace)
    hr["spec"]["storageNamespace"] = "kube-system"
    await release(kube, namespace, git_repos, http_git, unique_repo, hr=hr, ready=None)

    obj = await wait_hr(kube, namespace, NAME, "False", "UnsupportedField")
    assert condition(obj, "Stalled").get("status") == "True"
    assert "spec.storageNamespace is set" in condition(obj)["message"]
    assert not await release_secrets(kube, namespace, NAME)
    assert not await release_secrets(kube, "kube-system", NAME)

    # Storing it with the release is fine.
    await kube.patch(f"{HR.format(ns=namespace)}/{NAME}", {"spec": {"storageNamespace": namespace}})
    obj = await wait_hr(kube, namespace, NAME, "True", "InstallSucceeded")
    assert obj["status"]["storageNamespace"] == namespace

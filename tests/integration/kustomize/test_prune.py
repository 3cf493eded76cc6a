"""A prune that cannot delete forgets nothing: the object stays in the inventory (and
in the cluster) until a later reconcile may delete it, as a person would expect after
fixing the cause the Ready condition names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from kidp_gitops.kube import ApiError, KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.kustomize.helpers import (
    KS,
    apply_apps,
    exists,
    ready,
    setup_source,
    wait_ready,
)
from tests.integration.source.helpers import request_reconcile
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")

RBAC = "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"


def configmap(name: str, namespace: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"v": name},
        }
    )


def role(verbs: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "deployer"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": verbs}],
    }


async def test_a_failed_prune_keeps_the_object_listed_until_it_can_be_deleted(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    # The Kustomization acts as a service account that may apply ConfigMaps, not delete.
    await kube.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": "deployer"}}
    )
    await kube.create(
        f"{RBAC.format(ns=namespace)}/roles", role(["get", "list", "watch", "create", "patch"])
    )
    await kube.create(
        f"{RBAC.format(ns=namespace)}/rolebindings",
        {
            "metadata": {"name": "deployer"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "deployer",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}],
        },
    )
    repo = await setup_source(
        kube,
        namespace,
        git_repos,
        http_git,
        unique_repo,
        {"apps/a.yaml": configmap("a", namespace), "apps/b.yaml": configmap("b", namespace)},
    )
    await kube.create(
        KS.format(ns=namespace),
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps"},
            "spec": {
                "interval": "1h",
                "retryInterval": "2s",
                "path": "./apps",
                "prune": True,
                "serviceAccountName": "deployer",
                "sourceRef": {"kind": "GitRepository", "name": "kidp-infrastructure"},
            },
        },
    )
    await wait_ready(kube, namespace, "apps")

    with git_repos.worktree(repo, "main") as wt:
        wt.delete("apps/b.yaml")
        revision = wt.commit("b leaves Git")
        wt.push()
    await request_reconcile(kube, namespace, "kidp-infrastructure")
    failed = await wait_ready(kube, namespace, "apps", "False", "PruneFailed", revision=revision)
    message = ready(failed)["message"]
    assert f"ConfigMap/{namespace}/b" in message
    assert "forbidden" in message
    ids = {e["id"] for e in failed["status"]["inventory"]["entries"]}
    assert ids == {f"{namespace}_a__ConfigMap", f"{namespace}_b__ConfigMap"}
    b = f"/api/v1/namespaces/{namespace}/configmaps/b"
    assert await exists(kube, b)

    # The cause fixed, a retry deletes it and only then forgets it.
    await kube.replace(
        f"{RBAC.format(ns=namespace)}/roles/deployer",
        {
            **role(["get", "list", "watch", "create", "patch", "delete"]),
            "metadata": {"name": "deployer", "namespace": namespace},
        },
    )
    done = await wait_ready(kube, namespace, "apps", "True", revision=revision, timeout=60)
    assert {e["id"] for e in done["status"]["inventory"]["entries"]} == {
        f"{namespace}_a__ConfigMap"
    }
    await until(lambda: _gone(kube, b), 30, "b to be pruned")

    # Deleting a namespace may delete the account's permissions before the
    # Kustomization: its finalizer's prune is then forbidden, and must not hold the
    # namespace (and the Kustomization) forever.
    await kube.delete(f"{RBAC.format(ns=namespace)}/rolebindings/deployer")
    await kube.delete(f"/api/v1/namespaces/{namespace}")
    await until(lambda: _gone(kube, f"{KS.format(ns=namespace)}/apps"), 60, "finalization")


async def _gone(kube: KubeClient, path: str) -> bool:
    return not await exists(kube, path)


async def test_what_a_failed_apply_created_is_pruned_once_it_leaves_git(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    """Namespaces are applied before the rest: when the rest then fails, the new
    Namespace exists — and must be in the inventory, or nothing would ever prune it."""
    files = {"apps/a.yaml": configmap("a", namespace)}
    repo = await apply_apps(kube, namespace, git_repos, http_git, unique_repo, files)

    extra = f"{namespace}-extra"
    with git_repos.worktree(repo, "main") as wt:
        wt.write(
            {
                "apps/ns.yaml": yaml.safe_dump(
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": extra}}
                ),
                "apps/bad.yaml": configmap("Not_A_Valid_Name", namespace),
            }
        )
        broken = wt.commit("a namespace, and an object the API server refuses")
        wt.push()
    await request_reconcile(kube, namespace, "kidp-infrastructure")
    failed = await wait_ready(
        kube, namespace, "apps", "False", "ReconciliationFailed", revision=broken
    )
    assert "Not_A_Valid_Name" in ready(failed)["message"]
    assert await exists(kube, f"/api/v1/namespaces/{extra}")
    ids = {e["id"] for e in failed["status"]["inventory"]["entries"]}
    assert f"_{extra}__Namespace" in ids

    with git_repos.worktree(repo, "main") as wt:
        wt.delete("apps/ns.yaml", "apps/bad.yaml")
        reverted = wt.commit("back to a alone")
        wt.push()
    await request_reconcile(kube, namespace, "kidp-infrastructure")
    done = await wait_ready(kube, namespace, "apps", "True", revision=reverted)
    assert {e["id"] for e in done["status"]["inventory"]["entries"]} == {
        f"{namespace}_a__ConfigMap"
    }

    async def terminating() -> bool:
        try:
            live = await kube.get(f"/api/v1/namespaces/{extra}")
        except ApiError as err:
            return err.not_found
        return bool(live["metadata"].get("deletionTimestamp"))

    await until(terminating, 30, f"namespace {extra} to be pruned")

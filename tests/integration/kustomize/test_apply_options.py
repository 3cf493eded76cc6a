"""What the per-object annotations and the Kustomization's prune, force and
deletionPolicy do to the cluster, as Flux documents them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kidp_gitops.engine.run import Engine
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.kustomize import helpers
from tests.integration.kustomize.helpers import (
    KS,
    exists,
    manifests,
    setup_source,
    wait_ready,
)
from tests.integration.source.helpers import request_reconcile
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")


def cm(
    name: str, namespace: str, data: dict[str, str], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


async def kustomization(kube: KubeClient, namespace: str, **spec: Any) -> None:
    await kube.create(KS.format(ns=namespace), helpers.kustomization("apps", "apps", **spec))


async def push(
    git_repos: GitRepos,
    repo: str,
    kube: KubeClient,
    namespace: str,
    write: dict[str, str],
    delete: tuple[str, ...] = (),
) -> str:
    with git_repos.worktree(repo, "main") as wt:
        wt.write(write)
        if delete:
            wt.delete(*delete)
        sha = wt.commit("change")
        wt.push()
    await request_reconcile(kube, namespace, "kidp-infrastructure")
    return sha


async def test_ssa_annotations_and_prune_disabled(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    objs = [
        cm("override", namespace, {"v": "1"}),
        cm(
            "ifnotpresent",
            namespace,
            {"v": "1"},
            {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"},
        ),
        cm("ignored", namespace, {"v": "1"}, {"kustomize.toolkit.fluxcd.io/ssa": "Ignore"}),
        cm("kept", namespace, {"v": "1"}, {"kustomize.toolkit.fluxcd.io/prune": "disabled"}),
    ]
    repo = await setup_source(kube, namespace, git_repos, http_git, unique_repo, manifests(*objs))
    await kustomization(kube, namespace)
    await wait_ready(kube, namespace, "apps")
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    assert await exists(kube, f"{base}/override")
    assert await exists(kube, f"{base}/ifnotpresent")
    assert not await exists(kube, f"{base}/ignored")

    # Changed in Git: Override applies it, IfNotPresent leaves the live object alone.
    changed = [
        cm("override", namespace, {"v": "2"}),
        cm(
            "ifnotpresent",
            namespace,
            {"v": "2"},
            {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"},
        ),
    ]
    sha = await push(
        git_repos, repo, kube, namespace, manifests(*changed), delete=("apps/configmap-kept.yaml",)
    )
    await wait_ready(kube, namespace, "apps", revision=sha)
    assert (await kube.get(f"{base}/override"))["data"] == {"v": "2"}
    assert (await kube.get(f"{base}/ifnotpresent"))["data"] == {"v": "1"}
    # Removed from Git but marked prune: disabled: it stays.
    assert await exists(kube, f"{base}/kept")


async def test_force_recreates_on_an_immutable_change(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    def job(image: str) -> dict[str, Any]:
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "migrate", "namespace": namespace},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "m", "image": image}],
                    }
                }
            },
        }

    repo = await setup_source(
        kube, namespace, git_repos, http_git, unique_repo, manifests(job("migrate:1"))
    )
    await kustomization(kube, namespace)
    await wait_ready(kube, namespace, "apps")
    path = f"/apis/batch/v1/namespaces/{namespace}/jobs/migrate"
    first_uid = (await kube.get(path))["metadata"]["uid"]

    sha = await push(git_repos, repo, kube, namespace, manifests(job("migrate:2")))
    refused = await wait_ready(
        kube, namespace, "apps", "False", "ReconciliationFailed", revision=sha
    )
    assert "immutable" in str(refused["status"]["conditions"])

    await kube.patch(f"{KS.format(ns=namespace)}/apps", {"spec": {"force": True}})

    async def recreated() -> bool:
        if not await exists(kube, path):
            return False  # deleted, not created again yet
        live = await kube.get(path)
        image = live["spec"]["template"]["spec"]["containers"][0]["image"]
        return bool(live["metadata"]["uid"] != first_uid and image == "migrate:2")

    await until(recreated, 30, "the Job to be recreated with the new image")
    await wait_ready(kube, namespace, "apps", revision=sha)


@pytest.mark.parametrize(
    ("policy", "prune", "survives"),
    [
        ("MirrorPrune", True, False),
        ("MirrorPrune", False, True),
        ("Delete", False, False),
        ("Orphan", True, True),
    ],
)
async def test_deletion_policy(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    policy: str,
    prune: bool,
    survives: bool,
) -> None:
    await setup_source(
        kube,
        namespace,
        git_repos,
        http_git,
        unique_repo,
        manifests(cm("owned", namespace, {"v": "1"})),
    )
    await kustomization(kube, namespace, prune=prune, deletionPolicy=policy)
    await wait_ready(kube, namespace, "apps")
    await kube.delete(f"{KS.format(ns=namespace)}/apps")

    async def gone() -> bool:
        return not await exists(kube, f"{KS.format(ns=namespace)}/apps")

    await until(gone, 30, "the Kustomization to be finalized")
    assert await exists(kube, f"/api/v1/namespaces/{namespace}/configmaps/owned") == survives


async def test_a_fresh_process_verifies_without_writing(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    engine: Engine,
) -> None:
    """After a restart nothing is cached: the full path runs (build, dry run) and must
    find everything as it is — no object and no condition rewritten."""
    await setup_source(
        kube,
        namespace,
        git_repos,
        http_git,
        unique_repo,
        manifests(cm("a", namespace, {"v": "1"}), cm("b", namespace, {"v": "2"})),
    )
    await kustomization(kube, namespace, wait=True)
    before = await wait_ready(kube, namespace, "apps")
    objects = {
        n: (await kube.get(f"/api/v1/namespaces/{namespace}/configmaps/{n}"))["metadata"][
            "resourceVersion"
        ]
        for n in ("a", "b")
    }
    assert engine.manager is not None
    reconciler = next(c.reconciler for c in engine.manager.controllers if c.name == "kustomization")
    reconciler._last.clear()  # type: ignore[attr-defined]  # what a restart forgets
    stamp = "after-restart"
    await kube.patch(
        f"{KS.format(ns=namespace)}/apps",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}},
    )

    async def handled() -> dict[str, Any] | None:
        obj = await kube.get(f"{KS.format(ns=namespace)}/apps")
        return obj if obj["status"].get("lastHandledReconcileAt") == stamp else None

    after = await until(handled, 30, "the requested reconcile")
    assert after["status"]["conditions"] == before["status"]["conditions"]
    assert after["status"]["inventory"] == before["status"]["inventory"]
    for n, rv in objects.items():
        live = await kube.get(f"/api/v1/namespaces/{namespace}/configmaps/{n}")
        assert live["metadata"]["resourceVersion"] == rv, n

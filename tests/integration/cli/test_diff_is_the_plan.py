"""`kidp diff kustomization` lists exactly what the controller then does: the objects it
creates, changes, recreates and prunes, and nothing else — for plain objects, the `ssa`
annotations, a protected object, a force-recreated one and one kubectl wrote to. Both
are the resource manager's plan under the Kustomization's policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.kustomize.helpers import KS as KS_PATH
from tests.integration.kustomize.helpers import apply_apps, manifests, wait_ready
from tests.integration.source.helpers import request_reconcile
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")

KS = "kustomize.toolkit.fluxcd.io"


def cm(name: str, namespace: str, value: str, *, immutable: bool = False, **notes: str) -> Any:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if notes:
        meta["annotations"] = {f"{KS}/{k}": v for k, v in notes.items()}
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    obj["data"] = {"v": value}
    if immutable:
        obj["immutable"] = True
    return obj


def git(namespace: str, version: str, *, leaving: bool, fresh: bool) -> dict[str, str]:
    objects = [
        cm("plain", namespace, version),
        cm("same", namespace, "1"),
        cm("edited", namespace, "1"),
        cm("if-not-present", namespace, version, ssa="IfNotPresent"),
        cm("ignored", namespace, version, ssa="Ignore"),
        cm("protected", namespace, version, reconcile="disabled"),
        cm("frozen", namespace, version, immutable=True, force="enabled"),
    ]
    if leaving:
        objects.append(cm("leaving", namespace, "1"))
    if fresh:
        objects.append(cm("fresh", namespace, "1"))
    return manifests(*objects)


async def snapshot(kube: KubeClient, namespace: str) -> dict[str, tuple[str, str]]:
    """name → (uid, resourceVersion) of every ConfigMap of the namespace."""
    listed = await kube.get(f"/api/v1/namespaces/{namespace}/configmaps")
    return {
        o["metadata"]["name"]: (o["metadata"]["uid"], o["metadata"]["resourceVersion"])
        for o in listed["items"]
    }


def what_happened(
    before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]
) -> dict[str, str]:
    """The ConfigMaps that changed, in the diff's words."""
    out: dict[str, str] = {}
    for name in before.keys() | after.keys():
        if name not in after:
            out[name] = "deleted"
        elif name not in before:
            out[name] = "created"
        elif before[name][0] != after[name][0]:
            out[name] = "recreated"
        elif before[name][1] != after[name][1]:
            out[name] = "drifted"
    return out


async def test_the_diff_is_what_the_controller_then_does(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    repo = await apply_apps(
        kube,
        namespace,
        git_repos,
        http_git,
        unique_repo,
        git(namespace, "1", leaving=True, fresh=False),
    )
    # A person adds a label with kubectl: the controller takes kubectl's fields over and
    # removes it, though every value Git sets is intact. Suspended first, else the engine
    # would put it back before the diff is run (it watches for drift).
    await kube.patch(f"{KS_PATH.format(ns=namespace)}/apps", {"spec": {"suspend": True}})
    labels = {"kind": "Kustomization", "name": "apps", "namespace": namespace}

    async def suspended() -> bool:
        return REGISTRY.get_sample_value("gotk_suspend_status", labels) == 1

    await until(suspended, 30, "the engine to see the Kustomization suspended")
    edited = f"/api/v1/namespaces/{namespace}/configmaps/edited"
    await kube.managed_by("kubectl-edit").patch(edited, {"metadata": {"labels": {"by": "hand"}}})

    with git_repos.worktree(repo, "main") as wt:
        wt.delete("apps")
        wt.write(git(namespace, "2", leaving=False, fresh=True))
        diff = await kidp("diff", "ks", "apps", "-n", namespace, "--path", str(wt.path / "apps"))
        before = await snapshot(kube, namespace)
        revision = wt.commit("the change the diff was shown")
        wt.push()

    assert diff.exit_code == 1, diff.output
    listed = dict(
        line.removeprefix("► ").rsplit(" ", 1)
        for line in diff.stdout.splitlines()
        if line.startswith("►")
    )
    said = {ref.rsplit("/", 1)[1]: action for ref, action in listed.items()}
    assert said == {
        "plain": "drifted",
        "edited": "drifted",
        "protected": "protected",
        "frozen": "recreated",
        "leaving": "deleted",
        "fresh": "created",
    }, diff.stdout
    assert "-  v: '1'" in diff.stdout
    assert "+  v: '2'" in diff.stdout
    assert "kubectl-edit → kustomize-controller" in diff.stdout

    await request_reconcile(kube, namespace, "kidp-infrastructure")
    await kube.patch(f"{KS_PATH.format(ns=namespace)}/apps", {"spec": {"suspend": False}})
    await wait_ready(kube, namespace, "apps", revision=revision)
    done = what_happened(before, await snapshot(kube, namespace))

    # Exactly the writes the diff announced: the protected object is listed, not changed.
    assert done == {n: a for n, a in said.items() if a != "protected"}
    protected = await kube.get(f"/api/v1/namespaces/{namespace}/configmaps/protected")
    assert protected["data"] == {"v": "1"}
    assert "by" not in ((await kube.get(edited))["metadata"].get("labels") or {})

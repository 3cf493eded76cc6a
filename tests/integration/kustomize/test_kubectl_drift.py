"""Changes made with the real `kubectl` to objects a Kustomization manages are reverted to
Git within seconds, even those that give kubectl's field managers ownership: a renamed
container, an added port or env var, a Service port's new key, a client-side or
server-side `kubectl apply`. Afterwards our field manager owns the fields (Flux's
take-over of kubectl's managedFields). An object marked `ssa: Merge` keeps what kubectl
added; Git's own fields are still corrected."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import KubeClient, RestMapper
from kidp_gitops.kustomize import apply
from kidp_gitops.kustomize.apply import FIELD_MANAGER, LAST_APPLIED
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.kustomize.helpers import (
    KS,
    apply_apps,
    manifests,
    ready,
    wait_ready,
)
from tests.integration.source.helpers import request_reconcile
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")

CONTAINERS = "/spec/template/spec/containers/0"
# `kubectl edit`'s editor: sets the JSON pointers of $KIDP_TEST_EDIT in the file kubectl
# hands it, as a person would in vi.
EDITOR = """
import json, os, sys

path = sys.argv[-1]
with open(path) as f:
    obj = json.load(f)
for pointer, value in json.loads(os.environ["KIDP_TEST_EDIT"]):
    *parents, last = pointer.split("/")[1:]
    node = obj
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node.append(value) if last == "-" else node.__setitem__(int(last), value)
    else:
        node[last] = value
with open(path, "w") as f:
    json.dump(obj, f)
"""


class Kubectl:
    """The real kubectl, against the test cluster."""

    def __init__(self, kubeconfig: Path, namespace: str, workdir: Path):
        found = Path(sys.executable).with_name("kubectl")
        self.program = str(found) if found.exists() else shutil.which("kubectl") or "kubectl"
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.workdir = workdir
        self.editor = workdir / "editor.py"
        self.editor.write_text(EDITOR)

    async def __call__(self, *args: str, env: dict[str, str] | None = None) -> str:
        proc = await asyncio.create_subprocess_exec(
            self.program,
            f"--kubeconfig={self.kubeconfig}",
            f"--namespace={self.namespace}",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
        return out.decode()

    async def edit(self, target: str, *changes: tuple[str, Any]) -> None:
        await self(
            "edit",
            target,
            "--output=json",
            env={
                "KUBE_EDITOR": f"{sys.executable} {self.editor}",
                "KIDP_TEST_EDIT": json.dumps(changes),
            },
        )

    async def apply(self, obj: dict[str, Any], *flags: str) -> None:
        path = self.workdir / f"{obj['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(obj))
        await self("apply", "-f", str(path), *flags)


def deployment(name: str, namespace: str, annotations: dict[str, str] | None = None) -> Any:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            **({"annotations": annotations} if annotations else {}),
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {"name": name, "image": "nginx:1.27", "ports": [{"containerPort": 80}]}
                    ]
                },
            },
        },
    }


def service(name: str, namespace: str) -> Any:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 80}],
        },
    }


async def managed(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    *objects: dict[str, Any],
) -> str:
    """`objects` in Git, applied by a Kustomization `apps` that is Ready; the repository."""
    return await apply_apps(kube, namespace, git_repos, http_git, unique_repo, manifests(*objects))


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(obj["spec"]["template"]["spec"]["containers"])


async def reverted(
    kube: KubeClient, path: str, check: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        obj = await kube.get(path)
        return obj if check(obj) else None

    return await until(probe, 30, what)


async def corrected_event(kube: KubeClient, namespace: str, *needles: str) -> str:
    """The message of a DriftCorrected event that contains every one of `needles`."""

    async def probe() -> str | None:
        events = await kube.get(f"/api/v1/namespaces/{namespace}/events")
        for event in events["items"]:
            message = str(event.get("message", ""))
            if event["reason"] == "DriftCorrected" and all(n in message for n in needles):
                return message
        return None

    return await until(probe, 15, f"a DriftCorrected event naming {needles}")


def kubectl_entries(obj: dict[str, Any]) -> list[str]:
    return [
        e["manager"]
        for e in obj["metadata"].get("managedFields") or []
        if str(e["manager"]).startswith("kubectl") and not e.get("subresource")
    ]


def ours(obj: dict[str, Any]) -> dict[str, Any]:
    entry = next(
        e
        for e in obj["metadata"]["managedFields"]
        if e["manager"] == FIELD_MANAGER and e["operation"] == "Apply"
    )
    return dict(entry["fieldsV1"])


def our_containers(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(ours(obj)["f:spec"]["f:template"]["f:spec"]["f:containers"])


@pytest.fixture
def kubectl(installed: DevCluster, namespace: str, tmp_path: Path) -> Kubectl:
    return Kubectl(installed.kubeconfig, namespace, tmp_path)


async def test_kubectl_edit_is_reverted_and_its_fields_taken_over(
    kube: KubeClient,
    kubectl: Kubectl,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    repo = await managed(
        kube, namespace, git_repos, http_git, unique_repo, deployment("web", namespace)
    )
    web = f"/apis/apps/v1/namespaces/{namespace}/deployments/web"

    # A container renamed: the new list entry belongs to kubectl-edit.
    await kubectl.edit("deployment/web", (f"{CONTAINERS}/name", "web-renamed"))
    obj = await reverted(
        kube, web, lambda o: [c["name"] for c in containers(o)] == ["web"], "the rename reverted"
    )
    await corrected_event(
        kube,
        namespace,
        "Deployment/",
        "containers[name=web-renamed]: present → absent",
        "kubectl-edit → kustomize-controller",
    )
    assert kubectl_entries(obj) == []
    assert 'k:{"name":"web"}' in our_containers(obj)

    # A port and an env var added to the container.
    await kubectl.edit(
        "deployment/web",
        (f"{CONTAINERS}/ports/-", {"containerPort": 8080}),
        (f"{CONTAINERS}/env", [{"name": "DEBUG", "value": "1"}]),
    )
    obj = await reverted(
        kube,
        web,
        lambda o: (
            [p["containerPort"] for p in containers(o)[0]["ports"]] == [80]
            and "env" not in containers(o)[0]
        ),
        "the new port and env var removed",
    )
    await corrected_event(
        kube,
        namespace,
        "containers[name=web].env[name=DEBUG]: present → absent",
        "containers[name=web].ports[containerPort=8080]: present → absent",
    )
    assert kubectl_entries(obj) == []
    assert ready(await kube.get(f"{KS.format(ns=namespace)}/apps"))["status"] == "True"

    # A label Git does not set changes none of Git's fields, but kubectl-label now owns
    # a field of the object: that is drift too, removed without waiting for a revision.
    await kubectl("label", "deployment/web", "owner=someone")
    obj = await reverted(
        kube, web, lambda o: "owner" not in o["metadata"]["labels"], "the kubectl label removed"
    )
    assert kubectl_entries(obj) == []
    await new_revision(kube, git_repos, repo, namespace)
    assert kubectl_entries(await kube.get(web)) == []


async def test_kubectl_apply_and_patch_are_reverted(
    kube: KubeClient,
    kubectl: Kubectl,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    api = deployment("api", namespace)
    await managed(kube, namespace, git_repos, http_git, unique_repo, api, service("api", namespace))
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/api"
    svc = f"/api/v1/namespaces/{namespace}/services/api"

    # Client-side `kubectl apply` of an edited manifest: a new image and an env var, and
    # the last-applied annotation.
    edited = json.loads(json.dumps(api))
    containers(edited)[0]["image"] = "nginx:1.28"
    containers(edited)[0]["env"] = [{"name": "MODE", "value": "manual"}]
    await kubectl.apply(edited)

    def back_to_git(o: dict[str, Any]) -> bool:
        (c,) = containers(o)
        annotations = o["metadata"].get("annotations") or {}
        return c["image"] == "nginx:1.27" and "env" not in c and LAST_APPLIED not in annotations

    obj = await reverted(kube, path, back_to_git, "the client-side apply reverted")
    await corrected_event(
        kube,
        namespace,
        "containers[name=api].env[name=MODE]: present → absent",
        "kubectl-client-side-apply → kustomize-controller",
    )
    assert kubectl_entries(obj) == []

    # `kubectl patch` of the Service's port: a new list key (80 → 81). Without the
    # take-over, the forced apply would add port 80 beside kubectl's 81 and fail on the
    # duplicate name.
    await kubectl(
        "patch",
        "service/api",
        "--type=json",
        '-p=[{"op": "replace", "path": "/spec/ports/0/port", "value": 81}]',
    )
    obj = await reverted(
        kube, svc, lambda o: [p["port"] for p in o["spec"]["ports"]] == [80], "port 80 back"
    )
    await corrected_event(kube, namespace, "Service/", "spec.ports[name=http].port: 81 → 80")
    assert kubectl_entries(obj) == []

    # `kubectl apply --server-side --force-conflicts` (manager `kubectl`, an Apply).
    partial = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": "nginx:1.29"}]},
            },
        },
    }
    await kubectl.apply(partial, "--server-side", "--force-conflicts")
    obj = await reverted(
        kube, path, lambda o: containers(o)[0]["image"] == "nginx:1.27", "the image back"
    )
    await corrected_event(kube, namespace, "'nginx:1.29' → 'nginx:1.27'", "kubectl → kustomize")
    assert kubectl_entries(obj) == []
    assert ready(await kube.get(f"{KS.format(ns=namespace)}/apps"))["status"] == "True"


async def test_merge_keeps_what_kubectl_added(
    kube: KubeClient,
    kubectl: Kubectl,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    merged = deployment("merged", namespace, {"kustomize.toolkit.fluxcd.io/ssa": "Merge"})
    repo = await managed(kube, namespace, git_repos, http_git, unique_repo, merged)
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/merged"

    # One patch: an env var Git does not set, and replicas, which Git sets.
    await kubectl(
        "patch",
        "deployment/merged",
        '-p={"spec": {"replicas": 3, "template": {"spec": {"containers":'
        ' [{"name": "merged", "env": [{"name": "EXTRA", "value": "kept"}]}]}}}}',
    )
    obj = await reverted(kube, path, lambda o: o["spec"]["replicas"] == 1, "replicas back")
    await corrected_event(kube, namespace, "Deployment/", "merged", "spec.replicas: 3 → 1")
    assert containers(obj)[0]["env"] == [{"name": "EXTRA", "value": "kept"}]
    assert kubectl_entries(obj) == ["kubectl-patch"]
    # Still so after a new revision, which applies every object again.
    await new_revision(kube, git_repos, repo, namespace)
    obj = await kube.get(path)
    assert containers(obj)[0]["env"] == [{"name": "EXTRA", "value": "kept"}]
    assert obj["spec"]["replicas"] == 1


async def new_revision(kube: KubeClient, git_repos: GitRepos, repo: str, namespace: str) -> None:
    """Push a commit that adds a ConfigMap, and wait until `apps` applied it."""
    more = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "more", "namespace": namespace},
        "data": {"a": "1"},
    }
    with git_repos.worktree(repo, "main") as wt:
        wt.write({"apps/configmap-more.yaml": yaml.safe_dump(more)})
        revision = wt.commit("one more object")
        wt.push()
    await request_reconcile(kube, namespace, "kidp-infrastructure")
    await wait_ready(kube, namespace, "apps", revision=revision)


async def test_take_over_reads_again_when_the_object_changed(
    kube: KubeClient, kubectl: Kubectl, namespace: str
) -> None:
    await kubectl("create", "configmap", "settings", "--from-literal=a=1")
    path = f"/api/v1/namespaces/{namespace}/configmaps/settings"
    stale = await kube.get(path)
    assert kubectl_entries(stale) == ["kubectl-create"]
    await kube.patch(path, {"metadata": {"labels": {"touched": "yes"}}})

    manager = apply.manager(kube, RestMapper(kube))
    assert await manager.take_over(path, stale)
    after = await kube.get(path)
    assert kubectl_entries(after) == []
    assert "f:a" in ours(after)["f:data"]
    assert after["metadata"]["labels"] == {"touched": "yes"}, "the later write is kept"
    # Nothing left to take: no write.
    assert not await manager.take_over(path, after)
    assert (await kube.get(path))["metadata"]["resourceVersion"] == after["metadata"][
        "resourceVersion"
    ]

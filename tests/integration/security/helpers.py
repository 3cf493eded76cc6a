"""What a hostile tenant commits, and the checks that nothing of it landed."""

from __future__ import annotations

from typing import Any

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitRepos
from tests.integration.source.helpers import condition, request_reconcile
from tests.integration.wait import until

CRB = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
RB = "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"


def chart(name: str, template: str) -> dict[str, str]:
    """Repository files of a one-template chart at ./charts/<name>."""
    return {
        f"charts/{name}/Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n",
        f"charts/{name}/values.yaml": "{}\n",
        f"charts/{name}/templates/main.yaml": template,
    }


PLAIN = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cm
data:
  made-by: helm
"""

# A tenant's chart that makes the tenant cluster-admin: the escape of issue 11.
ESCALATE = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ .Release.Namespace }}-escape
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
  - kind: ServiceAccount
    name: tenant-sa
    namespace: {{ .Release.Namespace }}
"""


def tenant_charts() -> dict[str, str]:
    return {**chart("plain", PLAIN), **chart("escalate", ESCALATE)}


def helmrelease(
    name: str,
    chart_path: str,
    *,
    source_namespace: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A HelmRelease of ./charts/<chart_path> of the `kidp-infrastructure` source."""
    ref: dict[str, Any] = {"kind": "GitRepository", "name": "kidp-infrastructure"}
    if source_namespace:
        ref["namespace"] = source_namespace
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name},
        "spec": {
            "interval": "1h",
            "chart": {"spec": {"chart": f"./charts/{chart_path}", "sourceRef": ref}},
            **spec,
        },
    }


async def grant_admin(kube: KubeClient, namespace: str, account: str) -> None:
    """`account` of `namespace` may do anything in its own namespace (a tenant's usual
    rights), and nothing elsewhere."""
    await kube.create(
        RB.format(ns=namespace),
        {
            "metadata": {"name": f"{account}-admin"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
    )


async def warned(
    kube: KubeClient, namespace: str, kind: str, name: str, reason: str, text: str = ""
) -> dict[str, Any]:
    """The Warning event `reason` about `kind/name` (holding `text`), once recorded:
    events are written after the status that caused them, so a test waits for them."""

    async def find() -> dict[str, Any] | None:
        listed = await kube.list(
            f"/api/v1/namespaces/{namespace}/events",
            params={"fieldSelector": f"involvedObject.name={name}"},
        )
        for e in listed.get("items") or []:
            involved = e.get("involvedObject") or {}
            said = (e.get("type"), e.get("reason"), involved.get("kind"))
            if said == ("Warning", reason, kind) and text in e.get("message", ""):
                return dict(e)
        return None

    return await until(find, 30, f"a Warning {reason} event about {kind}/{name}")


async def assert_access_denied(kube: KubeClient, refused: dict[str, Any], ref: str) -> None:
    """`refused` is Stalled, AccessDenied naming `ref`, and a Warning event says so."""
    ready = condition(refused)
    assert (ready["reason"], ready["message"]) == (
        "AccessDenied",
        f"can't access '{ref}', cross-namespace references have been blocked",
    )
    stalled = condition(refused, "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "AccessDenied")
    meta = refused["metadata"]
    await warned(kube, meta["namespace"], refused["kind"], meta["name"], "AccessDenied", ref)


async def push_and_fetch(
    kube: KubeClient, git_repos: GitRepos, repo: str, namespace: str, files: dict[str, str]
) -> str:
    """Commit `files` to `repo`, push, and ask the namespace's `kidp-infrastructure`
    GitRepository to fetch at once; the new revision."""
    with git_repos.worktree(repo) as wt:
        wt.write(files)
        revision = wt.commit("a change")
        wt.push()
    await request_reconcile(kube, namespace, "kidp-infrastructure")
    return revision

"""What a hostile tenant commits, and the checks that nothing of it landed."""

from __future__ import annotations

from typing import Any

from kidp_gitops.kube import KubeClient

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


async def warning_events(kube: KubeClient, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = await kube.list(
        f"/api/v1/namespaces/{namespace}/events",
        params={"fieldSelector": f"involvedObject.name={name}"},
    )
    return [e for e in listed.get("items") or [] if e.get("type") == "Warning"]

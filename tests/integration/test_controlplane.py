"""The local control plane behaves like a real cluster: workloads roll out on the kwok
node, RBAC is enforced, the garbage collector and namespace controller work, and the
server reports the pinned version."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import ApiError, KubeClient
from tests.integration.conftest import repo_root
from tests.integration.wait import until

FM = "kidp-tests"


def deployment(name: str, replicas: int) -> dict[str, object]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }


async def test_deployment_becomes_available_on_the_fake_node(
    kube: KubeClient, namespace: str
) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web"
    await kube.apply(path, deployment("web", 3), field_manager=FM)

    async def available() -> dict[str, object] | None:
        dep = await kube.get(path)
        st = dep.get("status", {})
        ok = any(
            c["type"] == "Available" and c["status"] == "True" for c in st.get("conditions", [])
        )
        return dep if ok and st.get("readyReplicas") == 3 else None

    await until(available, 60, "Deployment web Available with 3 ready replicas")
    pods = await kube.get(
        f"/api/v1/namespaces/{namespace}/pods", params={"labelSelector": "app=web"}
    )
    assert len(pods["items"]) == 3
    for pod in pods["items"]:
        assert pod["spec"]["nodeName"] == "kwok-node-0"
        assert pod["status"]["phase"] == "Running"
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True"


async def test_rbac_denies_a_service_account_until_bound(
    kube: KubeClient, namespace: str, as_service_account: Callable[[str, str], KubeClient]
) -> None:
    await kube.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": "tenant"}}
    )
    tenant = as_service_account(namespace, "tenant")
    configmaps = f"/api/v1/namespaces/{namespace}/configmaps"

    with pytest.raises(ApiError) as denied:
        await tenant.get(configmaps)
    assert denied.value.status == 403
    assert f"system:serviceaccount:{namespace}:tenant" in denied.value.message

    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    await kube.create(
        f"{rbac}/roles",
        {
            "metadata": {"name": "read-configmaps"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
    )
    await kube.create(
        f"{rbac}/rolebindings",
        {
            "metadata": {"name": "tenant-reads"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "read-configmaps",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": namespace}],
        },
    )

    # The RBAC authorizer learns of new bindings through its informers: allowed
    # follows the binding within moments, not on the same instant.
    async def allowed() -> dict[str, object] | None:
        try:
            return await tenant.get(configmaps)
        except ApiError as e:
            if not e.forbidden:
                raise
            return None

    listed = await until(allowed, timeout=10, what="the binding to take effect")
    assert listed["kind"] == "ConfigMapList"
    # The binding grants reads in this namespace only.
    with pytest.raises(ApiError) as elsewhere:
        await tenant.get("/api/v1/namespaces/default/configmaps")
    assert elsewhere.value.forbidden


async def test_deleting_an_owner_collects_its_dependents(kube: KubeClient, namespace: str) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    owner = await kube.create(cms, {"metadata": {"name": "owner"}})
    await kube.create(
        cms,
        {
            "metadata": {
                "name": "dependent",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "owner",
                        "uid": owner["metadata"]["uid"],
                    }
                ],
            }
        },
    )
    await kube.delete(f"{cms}/owner")

    async def collected() -> bool:
        try:
            await kube.get(f"{cms}/dependent")
        except ApiError as err:
            return err.not_found
        return False

    await until(collected, 30, "the garbage collector to delete the dependent")


async def test_deleting_a_namespace_completes(kube: KubeClient) -> None:
    await kube.create("/api/v1/namespaces", {"metadata": {"name": "doomed"}})
    await kube.apply(
        "/apis/apps/v1/namespaces/doomed/deployments/web", deployment("web", 1), field_manager=FM
    )
    await kube.create("/api/v1/namespaces/doomed/configmaps", {"metadata": {"name": "c"}})
    await kube.delete("/api/v1/namespaces/doomed")

    async def gone() -> bool:
        try:
            ns = await kube.get("/api/v1/namespaces/doomed")
        except ApiError as err:
            return err.not_found
        assert ns["status"]["phase"] == "Terminating"
        return False

    await until(gone, 60, "namespace doomed to finish terminating")


def test_kubectl_reports_the_pinned_server_version(cluster: DevCluster) -> None:
    pinned = dict(
        line.split("=", 1)
        for line in (repo_root() / "hack/controlplane/versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    kubectl = repo_root() / ".venv/bin/kubectl"
    out = subprocess.run(
        [str(kubectl), "version", "-o", "json", f"--kubeconfig={cluster.kubeconfig}"],
        capture_output=True,
        text=True,
        check=True,
    )
    server = json.loads(out.stdout)["serverVersion"]
    assert server["gitVersion"] == pinned["KUBERNETES_VERSION"]
    assert server["major"] == "1"
    assert server["minor"] == pinned["KUBERNETES_VERSION"].split(".")[1]


async def test_the_shared_control_plane_keeps_no_audit_log(
    cluster: DevCluster, kube: KubeClient, namespace: str
) -> None:
    """`audit=False` (conftest.py) takes effect, after writes too; the install tests read
    `bare_cluster`'s, kept by default (tests/integration/audit.py)."""
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    await kube.create(cms, {"metadata": {"name": "written"}, "data": {"k": "v"}})
    assert not _audited(cluster)


def _audited(dev: DevCluster) -> list[str]:
    """The audit flags its API server runs with, and its audit log if there is one."""
    state = dev.state()
    assert state is not None
    cmdline = Path(f"/proc/{state.pids['kube-apiserver']}/cmdline").read_bytes()
    flags = [flag for flag in cmdline.decode().split("\0") if flag.startswith("--audit-")]
    return flags + ([str(dev.audit_log)] if dev.audit_log.exists() else [])

"""Each controller's ServiceAccount may do what its controller does and no more, asked
of the API server's own authorizer (a SubjectAccessReview, what `kubectl auth can-i
--as` sends) after `kidp install --without-controllers` with every component: the
appliers are cluster-admin, as in Flux; source and notification can neither write
workloads nor grant RBAC."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kidp_gitops.cli.main import app
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.install import manifests
from kidp_gitops.kube import KubeClient

NS = manifests.NAMESPACE
Ask = tuple[str, str, str, str]
"""(verb, group, resource, namespace; '' for cluster-wide)."""

ALLOWED: dict[str, list[Ask]] = {
    "source-controller": [
        ("update", "source.toolkit.fluxcd.io", "gitrepositories/status", "tenant"),
        ("patch", "source.toolkit.fluxcd.io", "helmcharts", "tenant"),
        ("get", "", "secrets", "tenant"),
        ("create", "", "events", "tenant"),
        ("update", "coordination.k8s.io", "leases", NS),
    ],
    "notification-controller": [
        ("update", "notification.toolkit.fluxcd.io", "receivers/status", "tenant"),
        ("patch", "kustomize.toolkit.fluxcd.io", "kustomizations", "tenant"),
        ("watch", "", "events", ""),
        ("get", "", "secrets", "tenant"),
    ],
    "image-reflector-controller": [
        ("get", "", "secrets", "tenant"),
        ("list", "", "serviceaccounts", "tenant"),
        ("update", "image.toolkit.fluxcd.io", "imagepolicies/status", "tenant"),
        ("patch", "image.toolkit.fluxcd.io", "imagerepositories", "tenant"),
    ],
    "image-automation-controller": [
        ("update", "image.toolkit.fluxcd.io", "imageupdateautomations/status", "tenant"),
        ("get", "source.toolkit.fluxcd.io", "gitrepositories", "tenant"),
    ],
    "source-watcher": [
        ("update", "source.extensions.fluxcd.io", "artifactgenerators/status", "tenant"),
        ("create", "source.toolkit.fluxcd.io", "externalartifacts", "tenant"),
        ("update", "source.toolkit.fluxcd.io", "externalartifacts/status", "tenant"),
        ("watch", "source.toolkit.fluxcd.io", "gitrepositories", ""),
        ("create", "", "events", "tenant"),
        ("update", "coordination.k8s.io", "leases", NS),
    ],
    "kustomize-controller": [
        ("create", "apps", "deployments", "tenant"),
        ("create", "rbac.authorization.k8s.io", "clusterrolebindings", ""),
        ("impersonate", "", "serviceaccounts", "tenant"),
        # Workload identity (kubeConfig.configMapRef): tokens for a remote cluster.
        ("create", "", "serviceaccounts/token", "tenant"),
    ],
    "helm-controller": [
        ("create", "apps", "deployments", "tenant"),
        ("delete", "", "secrets", "tenant"),
        ("create", "", "serviceaccounts/token", "tenant"),
    ],
}
WORKLOADS_AND_RBAC: list[Ask] = [
    ("create", "apps", "deployments", "tenant"),
    ("patch", "apps", "daemonsets", "tenant"),
    ("create", "", "pods", "tenant"),
    ("create", "batch", "jobs", "tenant"),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings", ""),
    ("create", "rbac.authorization.k8s.io", "rolebindings", "tenant"),
    ("bind", "rbac.authorization.k8s.io", "clusterroles", ""),
    ("escalate", "rbac.authorization.k8s.io", "roles", "tenant"),
    ("impersonate", "", "serviceaccounts", "tenant"),
    ("create", "", "serviceaccounts/token", "tenant"),
    ("create", "", "secrets", "tenant"),
    ("update", "", "configmaps", "tenant"),
    ("delete", "", "namespaces", ""),
]
DENIED: dict[str, list[Ask]] = {
    "source-controller": [
        *WORKLOADS_AND_RBAC,
        ("patch", "kustomize.toolkit.fluxcd.io", "kustomizations", "tenant"),
        ("update", "coordination.k8s.io", "leases", "tenant"),
    ],
    "notification-controller": [
        *WORKLOADS_AND_RBAC,
        ("create", "kustomize.toolkit.fluxcd.io", "kustomizations", "tenant"),
        ("delete", "source.toolkit.fluxcd.io", "gitrepositories", "tenant"),
        ("update", "source.toolkit.fluxcd.io", "gitrepositories/status", "tenant"),
    ],
    "image-reflector-controller": [
        *WORKLOADS_AND_RBAC,
        ("update", "image.toolkit.fluxcd.io", "imageupdateautomations", "tenant"),
        ("create", "source.toolkit.fluxcd.io", "gitrepositories", "tenant"),
    ],
    "source-watcher": [
        *WORKLOADS_AND_RBAC,
        ("get", "", "secrets", "tenant"),
        ("update", "source.toolkit.fluxcd.io", "gitrepositories/status", "tenant"),
        ("patch", "kustomize.toolkit.fluxcd.io", "kustomizations", "tenant"),
    ],
    "image-automation-controller": [
        *WORKLOADS_AND_RBAC,
        ("update", "image.toolkit.fluxcd.io", "imagepolicies/status", "tenant"),
    ],
}


@pytest.fixture(scope="module")
def every_component(installed: DevCluster) -> DevCluster:
    result = CliRunner().invoke(
        app,
        [
            "install", "--without-controllers", f"--kubeconfig={installed.kubeconfig}",
            "--components-extra=image-reflector-controller,image-automation-controller,"
            "source-watcher",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return installed


async def may(kube: KubeClient, account: str, ask: Ask) -> bool:
    verb, group, resource, namespace = ask
    name, _, sub = resource.partition("/")
    attributes = {"verb": verb, "group": group, "resource": name, "subresource": sub}
    if namespace:
        attributes["namespace"] = namespace
    review = await kube.create(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": f"system:serviceaccount:{NS}:{account}",
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{NS}",
                           "system:authenticated"],
                "resourceAttributes": attributes,
            },
        },
    )  # fmt: skip
    return bool(review["status"].get("allowed"))


@pytest.mark.usefixtures("every_component")
@pytest.mark.parametrize("account", sorted(ALLOWED))
async def test_each_controller_may_do_its_work(kube: KubeClient, account: str) -> None:
    refused = [ask for ask in ALLOWED[account] if not await may(kube, account, ask)]
    assert refused == []


@pytest.mark.usefixtures("every_component")
@pytest.mark.parametrize("account", sorted(DENIED))
async def test_each_controller_is_denied_what_it_must_not_do(
    kube: KubeClient, account: str
) -> None:
    allowed = [ask for ask in DENIED[account] if await may(kube, account, ask)]
    assert allowed == []

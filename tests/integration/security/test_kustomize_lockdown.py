"""A tenant's Kustomization without `serviceAccountName` under lockdown (issue 11): it
acts as the default account of its namespace, so objects for another namespace (by
`targetNamespace` or written into the manifest) and cluster-scoped objects are refused by
RBAC and nothing of them is applied; the same objects for its own namespace are applied.
"""

from __future__ import annotations

from collections.abc import Callable

import yaml

from kidp_gitops.kube import KubeClient
from kidp_gitops.runtime.tenancy import Lockdown
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration import namespaces
from tests.integration.engines import Engines
from tests.integration.kustomize.helpers import (
    KS,
    configmap,
    exists,
    kustomization,
    ready,
    setup_source,
    wait_ready,
)
from tests.integration.security.helpers import CRB, grant_admin

ESCAPE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "{ns}-escape"},
    "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "cluster-admin",
    },
    "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "{ns}"}],
}


async def test_a_tenant_kustomization_is_held_to_its_namespace(
    bare_kube: KubeClient,
    bare_namespace: str,
    engines: Engines,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    kube, tenant = bare_kube, bare_namespace
    async with namespaces.temporary(kube, f"{tenant}-other") as other:
        escape = yaml.safe_dump(ESCAPE).replace("{ns}", tenant)
        await setup_source(
            kube,
            tenant,
            git_repos,
            http_git,
            unique_repo,
            {
                "own/cm.yaml": yaml.safe_dump(configmap("own", tenant)),
                "elsewhere/cm.yaml": yaml.safe_dump(configmap("planted", other)),
                "target/cm.yaml": yaml.safe_dump(configmap("targeted", tenant)),
                "cluster/crb.yaml": escape,
            },
        )
        await grant_admin(kube, tenant, "default")
        await engines.start(
            Lockdown(no_cross_namespace_refs=True, default_service_account="default")
        )
        await kube.create(KS.format(ns=tenant), kustomization("own", "own"))
        await kube.create(KS.format(ns=tenant), kustomization("elsewhere", "elsewhere"))
        await kube.create(
            KS.format(ns=tenant), kustomization("target", "target", targetNamespace=other)
        )
        await kube.create(KS.format(ns=tenant), kustomization("cluster", "cluster"))

        await wait_ready(kube, tenant, "own")
        assert await exists(kube, f"/api/v1/namespaces/{tenant}/configmaps/own")
        user = f"system:serviceaccount:{tenant}:default"
        for name in ("elsewhere", "target", "cluster"):
            refused = await wait_ready(kube, tenant, name, "False", "ReconciliationFailed")
            message = ready(refused)["message"]
            assert user in message, message
            assert "forbidden" in message, message
        assert not await exists(kube, f"/api/v1/namespaces/{other}/configmaps/planted")
        assert not await exists(kube, f"/api/v1/namespaces/{other}/configmaps/targeted")
        assert not await exists(kube, f"{CRB}/{tenant}-escape")

"""The multi-tenancy flags of Flux's kustomize-controller, on engines started with them
(on the control plane of conftest.py, where no other engine acts):

    --no-cross-namespace-refs    a sourceRef into another namespace is refused
    --default-service-account    a Kustomization without serviceAccountName acts as
                                 that account of its namespace, and RBAC decides
"""

from __future__ import annotations

import uuid
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
from tests.integration.source.helpers import condition

RBAC = "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"


async def test_a_source_in_another_namespace_is_refused(
    bare_kube: KubeClient,
    bare_namespace: str,
    engines: Engines,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    kube, home = bare_kube, bare_namespace
    tenant = f"{home}-x"
    await kube.create("/api/v1/namespaces", {"metadata": {"name": tenant}})
    try:
        await setup_source(
            kube,
            home,
            git_repos,
            http_git,
            unique_repo,
            {
                "home/cm.yaml": yaml.safe_dump(configmap("home", home)),
                "tenant/cm.yaml": yaml.safe_dump(configmap("stolen", tenant)),
            },
        )
        await engines.start(Lockdown(no_cross_namespace_refs=True))
        await kube.create(
            KS.format(ns=tenant), kustomization("tenant", "tenant", source_namespace=home)
        )
        # The same source from its own namespace is fine: the engine works.
        await kube.create(KS.format(ns=home), kustomization("home", "home"))
        await wait_ready(kube, home, "home")

        refused = await wait_ready(kube, tenant, "tenant", "False", "AccessDenied")
        message = ready(refused)["message"]
        assert f"GitRepository/{home}/kidp-infrastructure" in message
        assert "cross-namespace references have been blocked" in message
        stalled = condition(refused, "Stalled")
        assert stalled["status"] == "True"
        assert stalled["reason"] == "AccessDenied"
        assert not await exists(kube, f"/api/v1/namespaces/{tenant}/configmaps/stolen")
        assert "inventory" not in refused["status"]
        events = await kube.get(f"/api/v1/namespaces/{tenant}/events")
        assert any(
            e["reason"] == "AccessDenied" and e["type"] == "Warning" for e in events["items"]
        )
    finally:
        await namespaces.retire(kube, tenant)


async def test_without_service_account_the_default_one_is_impersonated(
    bare_kube: KubeClient,
    bare_namespace: str,
    engines: Engines,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    kube, ns = bare_kube, bare_namespace
    token = uuid.uuid4().hex
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "token", "namespace": ns},
        "stringData": {"token": token},
    }
    await setup_source(
        kube,
        ns,
        git_repos,
        http_git,
        unique_repo,
        {
            "allowed/cm.yaml": yaml.safe_dump(configmap("allowed", ns)),
            "denied/cm.yaml": yaml.safe_dump(configmap("denied", ns)),
            "denied/secret.yaml": yaml.safe_dump(secret),
        },
    )
    # The namespace's tenant account may manage ConfigMaps, and nothing else.
    await kube.create(f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "tenant"}})
    await kube.create(
        f"{RBAC.format(ns=ns)}/roles",
        {
            "metadata": {"name": "tenant"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}],
        },
    )
    await kube.create(
        f"{RBAC.format(ns=ns)}/rolebindings",
        {
            "metadata": {"name": "tenant"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tenant"},
            "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": ns}],
        },
    )
    await engines.start(Lockdown(default_service_account="tenant"))
    await kube.create(KS.format(ns=ns), kustomization("allowed", "allowed"))
    await kube.create(KS.format(ns=ns), kustomization("denied", "denied"))

    await wait_ready(kube, ns, "allowed")
    assert await exists(kube, f"/api/v1/namespaces/{ns}/configmaps/allowed")
    denied = await wait_ready(kube, ns, "denied", "False", "ReconciliationFailed")
    message = ready(denied)["message"]
    assert f"system:serviceaccount:{ns}:tenant" in message
    assert "secrets" in message
    assert token not in message
    # One object the account may not write: nothing of that stage is applied.
    assert not await exists(kube, f"/api/v1/namespaces/{ns}/secrets/token")
    assert not await exists(kube, f"/api/v1/namespaces/{ns}/configmaps/denied")

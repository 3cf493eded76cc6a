"""`spec.kubeConfig.configMapRef`, provider `generic`: no kubeconfig anywhere. The engine
asks its own cluster for a token of a service account (TokenRequest, audience the
remote's address) and sends it to the remote API server, which trusts the engine's
cluster's issuer (conftest.py) and maps the token to a user of its own; the remote's
RBAC alone decides what that user may do. A Kustomization and a HelmRelease act there
and nothing of theirs lands here; what the remote refuses fails the Kustomization with
the remote's words; a ConfigMap lacking a key is said, and fixing it acts at once;
deleting prunes and uninstalls on the remote."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.devcluster.pki import Pki
from kidp_gitops.devcluster.trust import PREFIX
from kidp_gitops.engine.run import Engine
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration import namespaces
from tests.integration.helm.helpers import HR, release_secrets, wait_hr
from tests.integration.kustomize.helpers import (
    KS,
    configmap,
    exists,
    kustomization,
    manifests,
    ready,
    setup_source,
    wait_ready,
)
from tests.integration.security.helpers import helmrelease, tenant_charts
from tests.integration.wait import until

ACCOUNT = "fleet-identity"
CONFIGMAP = "remote-identity"
KUBECONFIG: dict[str, Any] = {"kubeConfig": {"configMapRef": {"name": CONFIGMAP}}}


def identity_data(remote_cluster: DevCluster) -> dict[str, str]:
    """The ConfigMap's data as a user writes it: the remote's address and CA, the
    service account; no audiences, so the address is the audience (Flux's default)."""
    state = remote_cluster.state()
    assert state is not None
    return {
        "provider": "generic",
        "address": state.server,
        "ca.crt": Pki(remote_cluster.dir / "pki").ca_cert.read_text(),
        "serviceAccountName": ACCOUNT,
    }


async def grant_on_remote(remote: KubeClient, namespace: str) -> str:
    """What the remote lets the mapped identity do: anything in `namespace`, nothing
    elsewhere. Returns the user the remote sees."""
    user = f"{PREFIX}system:serviceaccount:{namespace}:{ACCOUNT}"
    await remote.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
        {
            "metadata": {"name": "fleet-identity"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "admin",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
    )
    return user


async def test_a_kustomization_and_a_helmrelease_act_as_the_identity_the_remote_maps(
    kube: KubeClient,
    remote: KubeClient,
    remote_cluster: DevCluster,
    namespace: str,
    engine: Engine,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    async with namespaces.temporary(remote, namespace):
        user = await grant_on_remote(remote, namespace)
        # The service account exists on the engine's cluster only: it is who asks.
        await kube.create(
            f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": ACCOUNT}}
        )
        files = {
            **manifests(configmap("by-identity", namespace)),
            # Outside the namespace the remote grants: refused there.
            **manifests(configmap("not-granted", "default"), directory="denied"),
            **tenant_charts(),
        }
        await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
        # Created without its address first: the problem is said, naming the key.
        data = identity_data(remote_cluster)
        incomplete = {k: v for k, v in data.items() if k not in ("address", "serviceAccountName")}
        cm_path = f"/api/v1/namespaces/{namespace}/configmaps"
        await kube.create(cm_path, {"metadata": {"name": CONFIGMAP}, "data": incomplete})
        await kube.create(KS.format(ns=namespace), kustomization("apps", "apps", **KUBECONFIG))
        ks = await wait_ready(kube, namespace, "apps", "False", "InvalidKubeConfig")
        assert ready(ks)["message"] == (
            f"kubeConfig ConfigMap '{namespace}/{CONFIGMAP}' has no 'address' key, which "
            "provider 'generic' requires"
        )

        # With its address but no service account: the engine's own would be sent, and
        # the engine of these tests runs as no service account (an admin certificate).
        await kube.patch(f"{cm_path}/{CONFIGMAP}", {"data": {"address": data["address"]}})

        async def no_own_account() -> bool:
            ks = await kube.get(f"{KS.format(ns=namespace)}/apps")
            return "runs as 'kidp-admin', not as a service account" in ready(ks).get("message", "")

        await until(no_own_account, 30, "the engine's missing account to be said")

        # An audience this cluster's API server accepts (its own issuer): such a token
        # would be a credential here, sent to an address the ConfigMap's writer chose.
        here = {**data, "audiences": kube.config.server}
        await kube.patch(f"{cm_path}/{CONFIGMAP}", {"data": here})

        async def refused_here() -> bool:
            ks = await kube.get(f"{KS.format(ns=namespace)}/apps")
            return "accepted by this cluster's API server" in ready(ks).get("message", "")

        await until(refused_here, 30, "a token valid here to be refused")
        await kube.patch(f"{cm_path}/{CONFIGMAP}", {"data": {"audiences": None}})

        # Fixed: acted on at once (the ConfigMap is watched; the interval is an hour).
        await kube.patch(f"{cm_path}/{CONFIGMAP}", {"data": data})
        await wait_ready(kube, namespace, "apps", timeout=120)
        await kube.create(KS.format(ns=namespace), kustomization("denied", "denied", **KUBECONFIG))
        release = helmrelease("plain", "plain", **KUBECONFIG)
        await kube.create(HR.format(ns=namespace), release)
        await wait_hr(kube, namespace, "plain", "True", "InstallSucceeded")

        applied = f"/api/v1/namespaces/{namespace}/configmaps/by-identity"
        installed = f"/api/v1/namespaces/{namespace}/configmaps/plain-cm"
        assert await exists(remote, applied)
        assert await exists(remote, installed)
        assert await release_secrets(remote, namespace, "plain")
        assert not await exists(kube, applied)
        assert not await exists(kube, installed)
        assert not await release_secrets(kube, namespace, "plain")

        # What the remote's RBAC does not grant the mapped user fails, in its words.
        ks = await wait_ready(kube, namespace, "denied", "False", timeout=60)
        message = ready(ks)["message"]
        assert f'User "{user}" cannot' in message
        assert 'in the namespace "default"' in message
        assert "Bearer" not in message
        assert not await exists(remote, "/api/v1/namespaces/default/configmaps/not-granted")

        # Deleting prunes on the remote, and uninstalls the release there.
        await kube.delete(f"{KS.format(ns=namespace)}/apps")
        await kube.delete(f"{KS.format(ns=namespace)}/denied")
        await kube.delete(f"{HR.format(ns=namespace)}/plain")

        async def cleaned() -> bool:
            return not (
                await exists(remote, applied)
                or await exists(remote, installed)
                or await release_secrets(remote, namespace, "plain")
            )

        await until(cleaned, 60, "the remote objects to be pruned and the release uninstalled")

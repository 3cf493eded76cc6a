"""`spec.kubeConfig.secretRef`: a Kustomization and a HelmRelease act on a second control
plane, as the service account named there, and nothing of theirs lands on the engine's
own; a change by hand on the remote is put back within seconds (informers there); an
unreachable remote keeps its last state and says so; deleting prunes and uninstalls on
the remote. Two real control planes: the shared one (the engine's) and the remote one
of this package (conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.devcluster.cluster import free_port
from kidp_gitops.engine.run import Engine
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration import namespaces
from tests.integration.helm.helpers import HR, condition, release_secrets, wait_hr
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
from tests.integration.source.helpers import create_secret
from tests.integration.wait import until

SECRET = "remote-kubeconfig"
ACCOUNT = "deployer"
UNREACHABLE = "RemoteClusterUnreachable"


async def deployer_on(remote: KubeClient, namespace: str) -> None:
    """The namespace on the remote, and a service account there that may do anything in
    it (and nothing on the engine's cluster, where it does not exist)."""
    await remote.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": ACCOUNT}}
    )
    await remote.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
        {
            "metadata": {"name": ACCOUNT},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": namespace}],
        },
    )


def elsewhere(kubeconfig: Path) -> bytes:
    """The same kubeconfig, its server moved to a port nothing listens on."""
    doc = yaml.safe_load(kubeconfig.read_text())
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    return yaml.safe_dump(doc).encode()


async def test_a_kustomization_and_a_helmrelease_act_on_the_remote_cluster(
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
        await deployer_on(remote, namespace)
        files = {**manifests(configmap("remote-only", namespace)), **tenant_charts()}
        await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
        # `value.yaml`: the key Flux reads when there is no `value` and none is named.
        kubeconfig = remote_cluster.kubeconfig.read_bytes()
        await create_secret(kube, namespace, SECRET, {"value.yaml": kubeconfig})
        spec: dict[str, Any] = {
            "kubeConfig": {"secretRef": {"name": SECRET}},
            "serviceAccountName": ACCOUNT,
        }
        await kube.create(KS.format(ns=namespace), kustomization("apps", "apps", **spec))
        release = helmrelease("plain", "plain", driftDetection={"mode": "enabled"}, **spec)
        await kube.create(HR.format(ns=namespace), release)
        await wait_ready(kube, namespace, "apps", timeout=120)
        await wait_hr(kube, namespace, "plain", "True", "InstallSucceeded")

        remote_cm = f"/api/v1/namespaces/{namespace}/configmaps/remote-only"
        helm_cm = f"/api/v1/namespaces/{namespace}/configmaps/plain-cm"
        assert await exists(remote, remote_cm)
        assert await exists(remote, helm_cm)
        assert await release_secrets(remote, namespace, "plain")
        # Nothing of theirs on the engine's cluster.
        assert not await exists(kube, remote_cm)
        assert not await exists(kube, helm_cm)
        assert not await release_secrets(kube, namespace, "plain")
        # As the service account on the remote: the objects' managers say who wrote.
        live = await remote.get(remote_cm)
        assert live["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"

        # A change by hand on the remote is put back, without waiting for the interval.
        await remote.patch(remote_cm, {"data": {"v": "edited by hand"}})

        async def put_back() -> bool:
            return bool((await remote.get(remote_cm))["data"]["v"] == "remote-only")

        await until(put_back, 30, "the remote ConfigMap to be put back")

        # The release's drift is checked on the remote too (at a reconcile, as locally).
        await remote.patch(helm_cm, {"data": {"made-by": "a person"}})
        await kube.patch(
            f"{HR.format(ns=namespace)}/plain",
            {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "drift"}}},
        )

        async def release_put_back() -> bool:
            return bool((await remote.get(helm_cm))["data"]["made-by"] == "helm")

        await until(release_put_back, 60, "the release's ConfigMap to be put back")

        # Unreachable: the last state stays on both clusters, and the status says why.
        inventory = (await kube.get(f"{KS.format(ns=namespace)}/apps"))["status"]["inventory"]
        await create_secret(
            kube, namespace, SECRET, {"value.yaml": elsewhere(remote_cluster.kubeconfig)}
        )
        ks = await wait_ready(kube, namespace, "apps", "False", UNREACHABLE, timeout=60)
        assert "is unreachable" in ready(ks)["message"]
        assert "BEGIN" not in ready(ks)["message"]
        assert ks["status"]["inventory"] == inventory
        hr = await wait_hr(kube, namespace, "plain", "False", UNREACHABLE, timeout=60)
        assert "is unreachable" in condition(hr)["message"]
        assert await exists(remote, remote_cm)
        assert await exists(remote, helm_cm)
        assert not await exists(kube, remote_cm)

        async def warned() -> bool:
            events = await kube.list(
                f"/api/v1/namespaces/{namespace}/events",
                {"fieldSelector": f"involvedObject.name=apps,reason={UNREACHABLE},type=Warning"},
            )
            return bool(events["items"])

        await until(warned, 30, "a Warning event saying the remote is unreachable")

        # Reachable again: Ready again, from the same state.
        await create_secret(kube, namespace, SECRET, {"value.yaml": kubeconfig})
        await wait_ready(kube, namespace, "apps", timeout=60)
        await wait_hr(kube, namespace, "plain", "True", timeout=60)

        # Deleting prunes on the remote, and uninstalls the release there.
        await kube.delete(f"{KS.format(ns=namespace)}/apps")
        await kube.delete(f"{HR.format(ns=namespace)}/plain")

        async def cleaned() -> bool:
            return not (
                await exists(remote, remote_cm)
                or await exists(remote, helm_cm)
                or await release_secrets(remote, namespace, "plain")
            )

        await until(cleaned, 60, "the remote objects to be pruned and the release uninstalled")

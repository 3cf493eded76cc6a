"""`kidp uninstall`, on the control plane without the session's engine (`own_cluster`,
put back after; the session's is shared): the controllers, CRDs, RBAC and namespace go;
GitOps objects with finalizers do not block it; the workloads stay. `--dry-run` deletes
nothing."""

from __future__ import annotations

from kidp_gitops.api import resources
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import ApiError, KubeClient, load_config
from tests.integration.cli.helpers import kidp_on
from tests.integration.wait import until

CRD = (
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
    "kustomizations.kustomize.toolkit.fluxcd.io"
)


async def gone(kube: KubeClient, path: str) -> bool:
    try:
        await kube.get(path)
    except ApiError as err:
        return err.not_found
    return False


async def test_uninstall_keeps_the_workloads(own_cluster: DevCluster) -> None:
    installed = await kidp_on(own_cluster, "install", "--without-controllers")
    assert installed.exit_code == 0, installed.output
    async with KubeClient(await load_config(own_cluster.kubeconfig)) as kube:
        await kube.create("/api/v1/namespaces", {"metadata": {"name": "shop"}})
        await kube.create(
            "/api/v1/namespaces/shop/configmaps",
            {"metadata": {"name": "web", "labels": {"kustomize.toolkit.fluxcd.io/name": "apps"}}},
        )
        await kube.create(
            "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations",
            {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "metadata": {"name": "apps", "finalizers": ["finalizers.fluxcd.io"]},
                "spec": {
                    "interval": "5m",
                    "prune": True,
                    "sourceRef": {"kind": "GitRepository", "name": "repo"},
                },
            },
        )

        dry = await kidp_on(own_cluster, "uninstall", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert (
            "✔ CustomResourceDefinition/kustomizations.kustomize.toolkit.fluxcd.io would be deleted"
            in dry.output
        )
        assert "✔ Kustomization/flux-system/apps finalizers would be removed" in dry.output
        await kube.get(CRD)  # still there

        done = await kidp_on(own_cluster, "uninstall", "--silent")
        assert done.exit_code == 0, done.output
        assert done.output.splitlines()[-1] == "✔ uninstall finished"

        async def crds_gone() -> bool:
            # Deleting a CRD takes a moment each: wait for all of ours, not just one.
            crds = await kube.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
            return not [
                c for c in crds["items"] if c["spec"]["group"].endswith(".toolkit.fluxcd.io")
            ]

        await until(crds_gone, 60, "the CRDs to be deleted")
        assert await gone(kube, CRD)
        namespace = await kube.get("/api/v1/namespaces/flux-system")
        assert namespace["metadata"].get("deletionTimestamp")  # terminating
        await kube.get("/api/v1/namespaces/shop/configmaps/web")  # the workload stays

        check = await kidp_on(own_cluster, "check")
        assert check.exit_code == 1
        assert "✗ kustomizations.kustomize.toolkit.fluxcd.io is not installed" in check.output
        # One failed check per CRD.
        assert check.output.splitlines()[-1] == f"✗ {len(resources.ALL)} check(s) failed"


async def test_uninstall_removes_shards_and_replicas(own_cluster: DevCluster) -> None:
    """An install with shards and replicas: uninstall deletes the shards' Deployments and
    Services (named by the install's shard count, found by its labels) and the
    replicas' PodDisruptionBudgets, not only the objects of the default install."""
    installed = await kidp_on(own_cluster, "install", "--shards=2", "--replicas=2")
    assert installed.exit_code == 0, installed.output
    ns = "/api/v1/namespaces/flux-system"
    shard = "/apis/apps/v1/namespaces/flux-system/deployments/kustomize-controller-shard2"
    service = f"{ns}/services/source-controller-shard2"
    budget = "/apis/policy/v1/namespaces/flux-system/poddisruptionbudgets/kustomize-controller"
    shard_budget = f"{budget}-shard2"
    async with KubeClient(await load_config(own_cluster.kubeconfig)) as kube:
        for path in (shard, service, budget, shard_budget):
            await kube.get(path)  # installed

        dry = await kidp_on(own_cluster, "uninstall", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert "✔ Deployment/flux-system/kustomize-controller-shard2 would be deleted" in dry.output
        await kube.get(shard)

        done = await kidp_on(own_cluster, "uninstall", "--silent", "--keep-namespace")
        assert done.exit_code == 0, done.output
        for path in (shard, service, budget, shard_budget):
            assert await gone(kube, path), path
        await kube.get(ns)  # kept, as asked
        # own_cluster puts kidp back on a cluster without its namespace.
        await kube.delete(ns)

"""Flux's shape as host processes: `kidp controller run --controllers=source` and
`--controllers=kustomize` (and `notification`) started apart, each as its own
ServiceAccount of the install (so the least-privilege RBAC is what they run with), with
loopback addresses where the cluster would have Service names. The Kustomization's
process has no artifact store: it downloads the GitRepository's artifact over HTTP from
the source process, at the URL in the source's status.

On `bare_cluster`, where no other engine acts.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path

import aiohttp
import yaml

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.install.processes import (
    NS,
    Running,
    delete_while_running,
    denied,
    running,
)
from tests.integration.kustomize.helpers import (
    GIT,
    KS,
    configmap,
    exists,
    kustomization,
    setup_source,
    wait_ready,
)
from tests.integration.source.helpers import condition, create_secret
from tests.integration.wait import until


async def test_source_and_kustomize_as_separate_processes(
    bare_cluster: DevCluster,
    bare_kube: KubeClient,
    bare_namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    kube, ns = bare_kube, bare_namespace
    await setup_source(
        kube, ns, git_repos, http_git, unique_repo,
        {"apps/cm.yaml": yaml.safe_dump(configmap("split", ns))},
    )  # fmt: skip
    await kube.create(KS.format(ns=ns), kustomization("apps", "apps"))
    await create_secret(kube, ns, "hook-token", {"token": "s3cret"})
    await kube.create(
        f"/apis/notification.toolkit.fluxcd.io/v1/namespaces/{ns}/receivers",
        {
            "apiVersion": "notification.toolkit.fluxcd.io/v1",
            "kind": "Receiver",
            "metadata": {"name": "push"},
            "spec": {
                "type": "generic-hmac",
                "secretRef": {"name": "hook-token"},
                "resources": [{"kind": "GitRepository", "name": "kidp-infrastructure"}],
            },
        },
    )

    def process(account: str, *flags: str) -> contextlib.AbstractAsyncContextManager[Running]:
        return running(kube, bare_cluster, tmp_path / account, account, *flags)

    async with (
        process("source-controller", "--controllers=source", "--enable-leader-election") as source,
        process(
            "kustomize-controller", "--controllers=kustomize", "--enable-leader-election"
        ) as kustomize,
        process(
            "notification-controller", "--controllers=notification", "--enable-leader-election"
        ) as notification,
    ):
        ks = await wait_ready(kube, ns, "apps", timeout=120)
        assert await exists(kube, f"/api/v1/namespaces/{ns}/configmaps/split")
        repo = await kube.get(f"{GIT.format(ns=ns)}/kidp-infrastructure")
        artifact = repo["status"]["artifact"]
        assert artifact["url"].startswith(f"http://127.0.0.1:{source.artifact_port}/")
        assert ks["status"]["lastAppliedRevision"] == artifact["revision"]
        # The applier keeps no store: what it read came over HTTP into its tree cache.
        assert not (kustomize.home / "data" / "artifacts").exists()
        assert any((kustomize.home / "data" / "kustomize" / "artifacts").iterdir())
        assert not (source.home / "data" / "kustomize").exists()

        # Each process leads under its own lease, as Flux's Deployments do.
        leases = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"

        async def leading() -> bool:
            held = {lease["metadata"]["name"] for lease in (await kube.get(leases))["items"]}
            return {
                "source-controller-leader-election",
                "kustomize-controller-leader-election",
                "notification-controller-leader-election",
            } <= held

        await until(leading, 60, "a lease for each process")

        # The notification process serves the Receiver; its webhook asks the source
        # process (through the API server) to fetch again.
        async def receiver_ready() -> bool:
            obj = await kube.get(
                f"/apis/notification.toolkit.fluxcd.io/v1/namespaces/{ns}/receivers/push"
            )
            return condition(obj).get("status") == "True"

        await until(receiver_ready, 60, "the Receiver to be Ready")
        obj = await kube.get(
            f"/apis/notification.toolkit.fluxcd.io/v1/namespaces/{ns}/receivers/push"
        )
        body = b'{"ref": "main"}'
        signature = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        url = f"http://127.0.0.1:{notification.receiver_port}{obj['status']['webhookPath']}"

        # The process finds the path in its informer, which may hear of the status a
        # moment after this test did: until then the answer is 404, and nothing is done.
        async def answered() -> tuple[int, str] | None:
            async with (
                aiohttp.ClientSession() as http,
                http.post(url, data=body, headers={"X-Signature": signature}) as resp,
            ):
                return None if resp.status == 404 else (resp.status, await resp.text())

        status, text = await until(answered, 10, "the webhook server to know the path")
        assert status == 200, text

        async def requested() -> bool:
            repo = await kube.get(f"{GIT.format(ns=ns)}/kidp-infrastructure")
            asked = (repo["metadata"].get("annotations") or {}).get(
                "reconcile.fluxcd.io/requestedAt"
            )
            return bool(asked) and repo["status"].get("lastHandledReconcileAt") == asked

        await until(requested, 60, "the source process to handle the webhook's request")
        await delete_while_running(kube, ns)

    for started in (source, kustomize, notification):
        assert denied(started.log) == [], f"{started.log}: {denied(started.log)}"

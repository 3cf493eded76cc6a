"""`spec.kubeConfig` never lets an object meant for another cluster reach this one. It
once was accepted and ignored: applied here, with the engine's identity, and reported
Ready. Now a `secretRef` acts on the remote (tests/integration/remote/test_kubeconfig_secret.py);
and a `configMapRef` by workload identity (tests/integration/remote/test_workload_identity.py);
here, what is refused: a kubeconfig that would run a program on the engine's machine or
read its files (a tenant writes that Secret), one whose Secret or ConfigMap is missing,
and a ConfigMap naming a cloud provider's workload identity (aws, azure, gcp)."""

from __future__ import annotations

from collections.abc import Callable

import yaml

from kidp_gitops.engine.run import Engine
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import HC, HR, condition, release_secrets, wait_hr
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
from tests.integration.security.helpers import helmrelease, tenant_charts, warned
from tests.integration.source.helpers import create_secret
from tests.integration.wait import until

HOSTILE = {"secretRef": {"name": "remote-cluster", "key": "config"}}
IDENTITY = {"configMapRef": {"name": "remote-cluster"}}
# A kubeconfig whose user runs a program on whatever reads it.
EXEC = yaml.safe_dump(
    {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "remote",
        "contexts": [{"name": "remote", "context": {"cluster": "remote", "user": "remote"}}],
        "clusters": [{"name": "remote", "cluster": {"server": "https://10.255.0.1:6443"}}],
        "users": [
            {
                "name": "remote",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1",
                        "command": "/bin/sh",
                        "args": ["-c", "touch /tmp/kidp-pwned"],
                    }
                },
            }
        ],
    }
)


async def test_nothing_reaches_this_cluster(
    kube: KubeClient,
    namespace: str,
    engine: Engine,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = {**manifests(configmap("remote-only", namespace)), **tenant_charts()}
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await kube.create(KS.format(ns=namespace), kustomization("missing", "apps", kubeConfig=HOSTILE))
    await kube.create(
        KS.format(ns=namespace), kustomization("identity", "apps", kubeConfig=IDENTITY)
    )
    await kube.create(HR.format(ns=namespace), helmrelease("hostile", "plain", kubeConfig=HOSTILE))
    # The positive control: the same objects without the field are applied.
    await kube.create(KS.format(ns=namespace), kustomization("local", "apps"))

    ks = await wait_ready(kube, namespace, "missing", "False", "InvalidKubeConfig")
    assert ready(ks)["message"] == f"kubeConfig Secret '{namespace}/remote-cluster' not found"
    ks = await wait_ready(kube, namespace, "identity", "False", "InvalidKubeConfig")
    assert ready(ks)["message"] == f"kubeConfig ConfigMap '{namespace}/remote-cluster' not found"

    # The ConfigMap appears, naming a cloud provider's workload identity: Stalled, naming
    # the provider; at once, though the interval is an hour (the ConfigMap is watched).
    eks = "arn:aws:eks:eu-central-1:123456789012:cluster/remote"
    await kube.create(
        f"/api/v1/namespaces/{namespace}/configmaps",
        {"metadata": {"name": "remote-cluster"}, "data": {"provider": "aws", "cluster": eks}},
    )
    ks = await wait_ready(kube, namespace, "identity", "False", "UnsupportedField")
    assert ready(ks)["message"].startswith(
        f"spec.kubeConfig.configMapRef: kubeConfig ConfigMap '{namespace}/remote-cluster' "
        "sets provider 'aws': workload identity of a cloud provider (aws, azure, gcp) is "
        "not implemented"
    )
    assert condition(ks, "Stalled")["status"] == "True"
    await warned(kube, namespace, "Kustomization", "identity", "UnsupportedField", "'aws'")

    # The Secret appears, with a kubeconfig that would run a program: refused by name.
    await create_secret(kube, namespace, "remote-cluster", {"config": EXEC})
    refused = "refused kubeConfig: the kubeconfig's user sets 'exec', which runs a credential"

    def says_exec(obj: dict[str, object]) -> bool:
        return str(condition(obj).get("message", "")).startswith(refused)

    hr = await wait_hr(kube, namespace, "hostile", "False", "InvalidKubeConfig", check=says_exec)
    assert "touch" not in condition(hr)["message"]
    ks = await wait_ready(kube, namespace, "missing", "False", "InvalidKubeConfig")

    async def missing_refused() -> bool:
        obj = await kube.get(f"{KS.format(ns=namespace)}/missing")
        return str(ready(obj).get("message", "")).startswith(refused)

    await until(missing_refused, 30, "the Kustomization to refuse the exec kubeconfig")
    await warned(kube, namespace, "HelmRelease", "hostile", "InvalidKubeConfig", "exec")
    assert not await release_secrets(kube, namespace, "hostile")
    await wait_ready(kube, namespace, "local")

    # Taking the field away is a new attempt; it applies what was waiting, here.
    await kube.delete(f"{KS.format(ns=namespace)}/local")
    await kube.patch(
        f"{KS.format(ns=namespace)}/identity",
        [{"op": "remove", "path": "/spec/kubeConfig"}],
        content_type="application/json-patch+json",
    )
    await wait_ready(kube, namespace, "identity")
    assert await exists(kube, f"/api/v1/namespaces/{namespace}/configmaps/remote-only")

    # Deleting one that never reached a cluster does not wait on a cleanup: the chart
    # it made here goes, and there is no release to uninstall.
    await kube.delete(f"{KS.format(ns=namespace)}/missing")
    await kube.delete(f"{HR.format(ns=namespace)}/hostile")

    async def gone() -> bool:
        return not (
            await exists(kube, f"{HR.format(ns=namespace)}/hostile")
            or await exists(kube, f"{KS.format(ns=namespace)}/missing")
            or await exists(kube, f"{HC.format(ns=namespace)}/{namespace}-hostile")
        )

    await until(gone, 30, "the refused objects to be deleted")

"""Flux's multi-tenancy lockdown, written as its guide writes it (kustomize patches on the
`kustomize-controller` and `helm-controller` Deployments), built over `kidp install
--export`, takes effect: the patched Deployment's flags, given to a host process as
they stand, refuse a tenant's Kustomization that reads another namespace's source; the
unpatched flags let it through.

On `bare_cluster`, where no other engine acts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration import namespaces
from tests.integration.install.processes import Install, delete_while_running, denied
from tests.integration.kustomize.helpers import (
    KS,
    configmap,
    exists,
    kustomization,
    ready,
    setup_source,
    wait_ready,
)
from tests.unit.install import patched


@pytest.mark.parametrize("lockdown", [True, False], ids=["patched", "unpatched"])
async def test_the_guides_lockdown_takes_effect(
    lockdown: bool,
    bare_cluster: DevCluster,
    bare_kube: KubeClient,
    bare_namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    kube, home = bare_kube, bare_namespace
    install = await Install.exported(
        kube, bare_cluster, tmp_path, kustomization=patched.LOCKDOWN if lockdown else patched.PLAIN
    )
    tenant = f"{home}-t"
    await kube.create("/api/v1/namespaces", {"metadata": {"name": tenant}})
    try:
        await setup_source(
            kube, home, git_repos, http_git, unique_repo,
            {"tenant/cm.yaml": yaml.safe_dump(configmap("escaped", tenant))},
        )  # fmt: skip
        await kube.create(
            KS.format(ns=tenant), kustomization("escape", "tenant", source_namespace=home)
        )
        async with (
            install.start("source-controller") as source,
            install.start("kustomize-controller") as kustomize,
        ):
            if lockdown:
                refused = await wait_ready(
                    kube, tenant, "escape", "False", "AccessDenied", timeout=120
                )
                assert "cross-namespace references have been blocked" in ready(refused)["message"]
            else:
                await wait_ready(kube, tenant, "escape", timeout=120)
            escaped = await exists(kube, f"/api/v1/namespaces/{tenant}/configmaps/escaped")
            assert escaped is not lockdown
            await delete_while_running(kube, tenant, home)
        for started in (source, kustomize):
            assert denied(started.log) == [], f"{started.log}: {denied(started.log)}"
    finally:
        await namespaces.retire(kube, tenant)

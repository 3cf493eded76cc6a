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
from tests.integration.install.processes import (
    controller,
    delete_while_running,
    denied,
    free_port,
)
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
    build = tmp_path / "build"
    build.mkdir()
    deployments = patched.deployments(build, patched.LOCKDOWN if lockdown else patched.PLAIN)
    args = {
        name: deployments[name]["spec"]["template"]["spec"]["containers"][0]["args"]
        for name in ("source-controller", "kustomize-controller")
    }
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
        port = free_port()
        async with (
            controller(
                kube, bare_cluster, tmp_path, "source-controller", *args["source-controller"],
                f"--artifact-addr=127.0.0.1:{port}", f"--artifact-url=http://127.0.0.1:{port}",
            ) as source_log,
            controller(
                kube, bare_cluster, tmp_path, "kustomize-controller",
                *args["kustomize-controller"],
            ) as kustomize_log,
        ):  # fmt: skip
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
        for log in (source_log, kustomize_log):
            assert denied(log) == [], f"{log}: {denied(log)}"
    finally:
        await namespaces.delete(kube, tenant)

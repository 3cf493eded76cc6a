"""`kidp bootstrap git` on a control plane of its own, against the real git server:
the manifests are committed and pushed, the cluster syncs itself from them, and a
second bootstrap changes nothing in Git."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import yaml
from typer.testing import CliRunner, Result

from kidp_gitops.cli.main import app
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.engine.run import Engine, EngineOptions
from kidp_gitops.kube import KubeClient, load_config
from tests.gitserver import GitHttpServer, GitRepos

KS = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/flux-system"


async def kidp(cluster: DevCluster, *args: str) -> Result:
    return await asyncio.to_thread(
        CliRunner().invoke,
        app,
        [*args, "--kubeconfig", str(cluster.kubeconfig)],
        catch_exceptions=False,
    )


async def test_bootstrap_commits_applies_and_syncs(
    own_cluster: DevCluster,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    repo = unique_repo("fleet")
    # The controllers run in this process (no image to pull here), so the cluster side
    # is installed first and bootstrap leaves the Deployment out.
    assert (await kidp(own_cluster, "install", "--without-controllers")).exit_code == 0
    engine = Engine(
        EngineOptions(
            data_dir=tmp_path / "engine",
            kubeconfig=str(own_cluster.kubeconfig),
            metrics_port=0,
            artifact_port=0,
        )
    )
    running = asyncio.create_task(engine.run())
    try:
        await engine.wait_ready(60)
        args = (
            "bootstrap", "git", "--url", http_git.url(repo), "--branch", "main",
            "--path", "clusters/dev", "--username", http_git.username,
            "--password", http_git.password, "--without-controllers",
        )  # fmt: skip
        first = await kidp(own_cluster, *args)
        assert first.exit_code == 0, first.output
        assert "committed and pushed" in first.output
        assert first.output.splitlines()[-1].startswith(
            "✔ bootstrap finished: the cluster follows main@sha1:"
        )
        assert http_git.password not in first.output

        with git_repos.worktree(repo) as wt:
            base = wt.path / "clusters/dev/flux-system"
            assert sorted(p.name for p in base.iterdir()) == [
                "gotk-components.yaml",
                "gotk-sync.yaml",
                "kustomization.yaml",
            ]
            sync = [d for d in yaml.safe_load_all((base / "gotk-sync.yaml").read_text()) if d]
            assert [d["kind"] for d in sync] == ["GitRepository", "Kustomization"]
            assert sync[1]["spec"]["path"] == "./clusters/dev"
            assert http_git.password not in (base / "gotk-sync.yaml").read_text()
            head = wt.head()

        async with KubeClient(await load_config(own_cluster.kubeconfig)) as kube:
            ks = await kube.get(KS)
            assert ks["status"]["lastAppliedRevision"] == f"main@sha1:{head}"
            ids = {e["id"] for e in ks["status"]["inventory"]["entries"]}
            # kidp now manages itself from Git: its CRDs and its own sync objects.
            assert (
                "_kustomizations.kustomize.toolkit.fluxcd.io_apiextensions.k8s.io_"
                "CustomResourceDefinition" in ids
            )
            assert "flux-system_flux-system_kustomize.toolkit.fluxcd.io_Kustomization" in ids

        again = await kidp(own_cluster, *args)
        assert again.exit_code == 0, again.output
        assert "✔ the component and sync manifests are up to date in Git" in again.output
        with git_repos.worktree(repo) as wt:
            assert wt.head() == head
    finally:
        engine.stop()
        await asyncio.wait_for(running, 60)

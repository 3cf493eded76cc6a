"""`kidp install --shards 2` as host processes: the main kustomize-controller and its two
shards, each started with its Deployment's flags as exported, elect leaders apart (all
three lead at once) and each reconciles only the Kustomizations of its shard
(`sharding.fluxcd.io/key`), the main one those without the label.

On `bare_cluster`, where no other engine acts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.install.processes import Install, delete_while_running, denied
from tests.integration.kustomize.helpers import (
    KS,
    configmap,
    kustomization,
    setup_source,
    wait_ready,
)

SHARD_OF = {"main": None, "one": "shard1", "two": "shard2"}
DEPLOYMENT_OF = {
    "main": "kustomize-controller",
    "one": "kustomize-controller-shard1",
    "two": "kustomize-controller-shard2",
}


async def test_each_shard_reconciles_its_own(
    bare_cluster: DevCluster,
    bare_kube: KubeClient,
    bare_namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    kube, ns = bare_kube, bare_namespace
    install = await Install.exported(kube, bare_cluster, tmp_path, "--shards=2")
    await setup_source(
        kube, ns, git_repos, http_git, unique_repo,
        {f"{k}/cm.yaml": yaml.safe_dump(configmap(k, ns)) for k in SHARD_OF},
    )  # fmt: skip
    for name, shard in SHARD_OF.items():
        ks = kustomization(name, name)
        if shard:
            ks["metadata"]["labels"] = {"sharding.fluxcd.io/key": shard}
        await kube.create(KS.format(ns=ns), ks)
    async with (
        install.start("source-controller") as source,
        install.start(DEPLOYMENT_OF["main"]) as main,
        install.start(DEPLOYMENT_OF["one"]) as one,
        install.start(DEPLOYMENT_OF["two"]) as two,
    ):
        for name in SHARD_OF:
            await wait_ready(kube, ns, name, timeout=120)
        await delete_while_running(kube, ns)
    processes = {"main": main, "one": one, "two": two}
    for name, process in processes.items():
        text = process.log.read_text()
        reconciled = {ks for ks in SHARD_OF if f"kustomization {ns}/{ks}:" in text}
        assert reconciled == {name}, (DEPLOYMENT_OF[name], reconciled)
    for process in (source, *processes.values()):
        assert denied(process.log) == [], f"{process.log}: {denied(process.log)}"

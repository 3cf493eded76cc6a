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
from tests.integration.install.processes import (
    controller,
    delete_while_running,
    denied,
    free_port,
)
from tests.integration.kustomize.helpers import (
    KS,
    configmap,
    kustomization,
    setup_source,
    wait_ready,
)
from tests.unit.install import patched

SHARD_OF = {"main": None, "one": "shard1", "two": "shard2"}
PROCESS_OF = {
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
    build = tmp_path / "build"
    build.mkdir()
    deployments = patched.deployments(build, patched.PLAIN, "--shards=2")

    def args(name: str) -> list[str]:
        return list(deployments[name]["spec"]["template"]["spec"]["containers"][0]["args"])

    await setup_source(
        kube, ns, git_repos, http_git, unique_repo,
        {f"{k}/cm.yaml": yaml.safe_dump(configmap(k, ns)) for k in SHARD_OF},
    )  # fmt: skip
    for name, shard in SHARD_OF.items():
        ks = kustomization(name, name)
        if shard:
            ks["metadata"]["labels"] = {"sharding.fluxcd.io/key": shard}
        await kube.create(KS.format(ns=ns), ks)
    port = free_port()
    async with (
        controller(
            kube, bare_cluster, tmp_path, "source-controller", *args("source-controller"),
            f"--artifact-addr=127.0.0.1:{port}", f"--artifact-url=http://127.0.0.1:{port}",
        ) as source_log,
        controller(
            kube, bare_cluster, tmp_path / "main", "kustomize-controller",
            *args("kustomize-controller"),
        ) as main_log,
        controller(
            kube, bare_cluster, tmp_path / "one", "kustomize-controller",
            *args("kustomize-controller-shard1"),
        ) as one_log,
        controller(
            kube, bare_cluster, tmp_path / "two", "kustomize-controller",
            *args("kustomize-controller-shard2"),
        ) as two_log,
    ):  # fmt: skip
        for name in SHARD_OF:
            await wait_ready(kube, ns, name, timeout=120)
        await delete_while_running(kube, ns)
    logs = {"main": main_log, "one": one_log, "two": two_log}
    for process, log in logs.items():
        text = log.read_text()
        reconciled = {name for name in SHARD_OF if f"kustomization {ns}/{name}:" in text}
        assert reconciled == {process}, (PROCESS_OF[process], reconciled)
    for log in (source_log, *logs.values()):
        assert denied(log) == [], f"{log}: {denied(log)}"

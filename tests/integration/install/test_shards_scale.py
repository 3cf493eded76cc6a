"""Issue 20's acceptance for sharding: `kidp install --shards 3` as host processes, the
three kustomize-controller shards over 300 Kustomizations (100 labelled for each), every
one Ready, and each object — the Kustomization and the ConfigMap it applies — written by
exactly one process, its shard's. The API server's audit log says who wrote what, each
process told apart by the identity in its User-Agent (tests/integration/audit.py).

Lean on purpose: one GitRepository, one path holding one ConfigMap whose name each
Kustomization substitutes. On `bare_cluster`, where no other engine acts.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration import audit
from tests.integration.install.processes import (
    delete_while_running,
    denied,
    free_port,
    running,
)
from tests.integration.kustomize.helpers import KS, kustomization, ready, setup_source
from tests.integration.wait import until
from tests.unit.install import patched

SHARDS = 3
PER_SHARD = 100
KUSTOMIZATIONS = f"kustomizations.{KS.split('/')[2]}"
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-${idx}
  namespace: {ns}
data:
  shard: ${shard}
"""


async def test_three_shards_over_300_kustomizations_each_object_one_writer(
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
    deployments = patched.deployments(build, patched.PLAIN, f"--shards={SHARDS}")

    def args(name: str) -> list[str]:
        return list(deployments[name]["spec"]["template"]["spec"]["containers"][0]["args"])

    await setup_source(
        kube, ns, git_repos, http_git, unique_repo,
        {"apps/cm.yaml": CONFIGMAP.replace("{ns}", ns)},
    )  # fmt: skip
    shard_of = {f"ks-{i}": f"shard{i % SHARDS + 1}" for i in range(SHARDS * PER_SHARD)}

    async def create(name: str) -> None:
        ks = kustomization(
            name, "apps", prune=False,
            postBuild={"substitute": {"idx": name.removeprefix("ks-"), "shard": shard_of[name]}},
        )  # fmt: skip
        ks["metadata"]["labels"] = {"sharding.fluxcd.io/key": shard_of[name]}
        await kube.create(KS.format(ns=ns), ks)

    names = list(shard_of)
    for start in range(0, len(names), 50):
        await asyncio.gather(*(create(n) for n in names[start : start + 50]))

    port = free_port()
    async with (
        running(
            kube, bare_cluster, tmp_path, "source-controller", *args("source-controller"),
            f"--artifact-addr=127.0.0.1:{port}", f"--artifact-url=http://127.0.0.1:{port}",
        ) as source,
        running(
            kube, bare_cluster, tmp_path / "1", "kustomize-controller",
            *args("kustomize-controller-shard1"),
        ) as one,
        running(
            kube, bare_cluster, tmp_path / "2", "kustomize-controller",
            *args("kustomize-controller-shard2"),
        ) as two,
        running(
            kube, bare_cluster, tmp_path / "3", "kustomize-controller",
            *args("kustomize-controller-shard3"),
        ) as three,
    ):  # fmt: skip
        began = time.monotonic()

        async def all_ready() -> bool:
            items = (await kube.list(KS.format(ns=ns)))["items"]
            done: int = sum(ready(ks).get("status") == "True" for ks in items)
            if done < len(names):
                await asyncio.sleep(1)  # a list of 300 objects: not five times a second
            return done == len(names)

        await until(all_ready, 600, f"{len(names)} Kustomizations to be Ready")
        # Issue 20 asks this to stay lean: the wall time to Ready, for the report.
        print(f"\n{len(names)} Kustomizations Ready over {SHARDS} shards "
              f"in {time.monotonic() - began:.1f} s")  # fmt: skip
        written = await audit.writes(bare_cluster, ns)
        await delete_while_running(kube, ns)

    process_of = {"shard1": one, "shard2": two, "shard3": three}
    # The controllers' writes (the test created the Kustomizations as its admin).
    by_controllers = [w for w in written if w.user.startswith("system:serviceaccount:")]
    agents: dict[tuple[str, str, str], set[str]] = {}
    for w in by_controllers:
        agents.setdefault(w.object, set()).add(w.user_agent)
    for name, shard in shard_of.items():
        for obj in ((KUSTOMIZATIONS, ns, name), ("configmaps", ns, f"cm-{name[3:]}")):
            assert len(agents.get(obj, ())) == 1, (obj, agents.get(obj))
            (agent,) = agents[obj]
            assert process_of[shard].sent(agent), (obj, shard, agent)
    applied = Counter(
        shard
        for shard, process in process_of.items()
        for obj, senders in agents.items()
        if obj[0] == "configmaps" and any(process.sent(a) for a in senders)
    )
    assert applied == {shard: PER_SHARD for shard in process_of}
    for process in (source, one, two, three):
        assert denied(process.log) == [], f"{process.log}: {denied(process.log)}"

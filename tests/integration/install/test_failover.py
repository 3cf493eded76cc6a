"""High availability as host processes: two replicas of kustomize-controller (the flags
of `kidp install --replicas 2`'s Deployment, with short leases) elect one leader; it
applies the Kustomization; killed with SIGKILL (no lease released), the standby takes
the lease over and applies the change pushed after the kill.

Who wrote what is the API server's audit log's answer (tests/integration/audit.py), each
process told apart by the identity in its User-Agent: every applied object is written by
one replica only, and the Kustomization itself passes from one to the other — every
write of the old leader comes before the first of the new one, in the API server's own
order, not by a clock of the test.

On `bare_cluster`, where no other engine acts (the session's engine on the shared
control plane would reconcile the Kustomization too).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import yaml

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration import audit
from tests.integration.install.processes import (
    NS,
    delete_while_running,
    denied,
    free_port,
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
from tests.integration.wait import until
from tests.unit.install import patched

LEASE = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/kustomize-controller-leader-election"
SHORT_LEASE = (
    "--leader-election-lease-duration=4s",
    "--leader-election-renew-deadline=3s",
    "--leader-election-retry-period=1s",
)


async def holder(kube: KubeClient) -> str:
    lease = await kube.get(LEASE)
    return str(lease["spec"].get("holderIdentity") or "")


async def test_a_killed_leader_is_replaced_and_nothing_is_written_by_both(
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
    deployments = patched.deployments(build, patched.PLAIN, "--replicas=2")
    assert deployments["kustomize-controller"]["spec"]["replicas"] == 2

    def args(name: str) -> list[str]:
        return list(deployments[name]["spec"]["template"]["spec"]["containers"][0]["args"])

    repo = await setup_source(
        kube, ns, git_repos, http_git, unique_repo,
        {"apps/before.yaml": yaml.safe_dump(configmap("before", ns))},
    )  # fmt: skip
    await kube.create(KS.format(ns=ns), kustomization("apps", "apps"))
    port = free_port()
    async with (
        running(
            kube, bare_cluster, tmp_path, "source-controller", *args("source-controller"),
            f"--artifact-addr=127.0.0.1:{port}", f"--artifact-url=http://127.0.0.1:{port}",
        ) as source,
        running(
            kube, bare_cluster, tmp_path / "a", "kustomize-controller",
            *args("kustomize-controller"), *SHORT_LEASE,
        ) as first,
        running(
            kube, bare_cluster, tmp_path / "b", "kustomize-controller",
            *args("kustomize-controller"), *SHORT_LEASE,
        ) as second,
    ):  # fmt: skip
        await wait_ready(kube, ns, "apps", timeout=120)
        leads = await holder(kube)
        leader, standby = (first, second) if leads == first.identity else (second, first)
        assert leads == leader.identity

        leader.process.kill()  # no graceful stop: the lease stays held until it expires
        await leader.process.wait()
        with git_repos.worktree(repo) as wt:
            wt.write({"apps/after.yaml": yaml.safe_dump(configmap("after", ns))})
            wt.commit("a change after the leader died")
            wt.push()
        now = datetime.datetime.now(datetime.UTC).isoformat()
        await kube.patch(
            f"{GIT.format(ns=ns)}/kidp-infrastructure",
            {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": now}}},
        )

        async def applied_after() -> bool:
            return await exists(kube, f"/api/v1/namespaces/{ns}/configmaps/after")

        await until(applied_after, 120, "the standby to apply the change pushed after the kill")
        repository = await kube.get(f"{GIT.format(ns=ns)}/kidp-infrastructure")
        revision = repository["status"]["artifact"]["revision"]
        await wait_ready(kube, ns, "apps", revision=revision, timeout=60)
        assert await holder(kube) == standby.identity

        # Before the namespace goes (its finalization is the new leader's writes too).
        written = await audit.writes(bare_cluster, ns)
        await delete_while_running(kube, ns)

    by_leader = [w for w in written if leader.sent(w.user_agent)]
    by_standby = [w for w in written if standby.sent(w.user_agent)]
    assert by_leader, written
    assert by_standby, written
    assert max(w.place for w in by_leader) < min(w.place for w in by_standby), (
        "the standby wrote while the old leader still did"
    )
    before, after = ("configmaps", ns, "before"), ("configmaps", ns, "after")
    assert {w.object for w in by_leader if w.resource == "configmaps"} == {before}
    assert {w.object for w in by_standby if w.resource == "configmaps"} == {after}
    for obj in {w.object for w in written if w.resource == "configmaps"}:
        agents = {w.user_agent for w in written if w.object == obj}
        assert len(agents) == 1, (obj, agents)  # one writer: no other process applied it
    for process in (source, first, second):
        assert denied(process.log) == [], f"{process.log}: {denied(process.log)}"

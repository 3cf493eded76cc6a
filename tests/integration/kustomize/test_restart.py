"""What a Kustomization costs when nothing changes, and what a restart does, on a
control plane whose only engine is the test's own (see conftest.py).

- An interval reconcile of an unchanged Kustomization reads its source and dependencies
  from the caches: the API server sees no request for them, and no write.
- A new process trusts what the status says it applied: no object is dry-run or written,
  except one changed while no engine ran, which is put back.
- A process that died between apply and prune leaves nothing orphaned: the next one
  prunes what left Git and keeps what is still in it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.engines import Engines, delta, served_requests
from tests.integration.kustomize.helpers import (
    KS,
    configmap,
    exists,
    ks_status,
    kustomization,
    manifests,
    setup_source,
    wait_ready,
)
from tests.integration.source.helpers import wait_condition
from tests.integration.wait import until

WRITES = ("POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION")
OURS = ("kustomizations", "gitrepositories", "configmaps")
"""What the engine reads and writes here (the control plane renews leases meanwhile)."""


def reconciles(namespace: str, name: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "gotk_reconcile_duration_seconds_count",
            {"kind": "Kustomization", "name": name, "namespace": namespace},
        )
        or 0.0
    )


async def resource_versions(kube: KubeClient, namespace: str, names: list[str]) -> dict[str, str]:
    out = {}
    for n in names:
        live = await kube.get(f"/api/v1/namespaces/{namespace}/configmaps/{n}")
        out[n] = live["metadata"]["resourceVersion"]
    return out


async def test_interval_reconciles_read_source_and_dependencies_from_the_caches(
    bare_kube: KubeClient,
    bare_namespace: str,
    engines: Engines,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    kube, ns = bare_kube, bare_namespace
    deps = ["base-1", "base-2", "base-3"]
    objects = [configmap(n, ns, n) for n in [*deps, "web"]]
    layout: dict[str, str] = {}
    for obj in objects:
        layout.update(manifests(obj, directory=obj["metadata"]["name"]))
    await setup_source(kube, ns, git_repos, http_git, unique_repo, layout)
    await engines.start()
    # Each in turn, so that none waits for another (a wait is a retry scheduled for
    # later, a reconcile that would fall into the measurement).
    await wait_condition(kube, ns, "kidp-infrastructure", "True")
    for dep in deps:
        await kube.create(KS.format(ns=ns), kustomization(dep, dep))
        await wait_ready(kube, ns, dep)
    await kube.create(
        KS.format(ns=ns),
        kustomization("web", "web", interval="1s", dependsOn=[{"name": d} for d in deps]),
    )
    await wait_ready(kube, ns, "web")
    await until(lambda: _at_least(reconciles(ns, "web"), 3), 60, "interval reconciles of web")
    # The API server's counters are the whole cluster's: the namespace controller still
    # emptying an earlier test's namespace would count its deletes here.
    await until(lambda: _none_terminating(kube), 60, "earlier tests' namespaces to be gone")

    before, count_before = await served_requests(engines.cluster), reconciles(ns, "web")
    # A measurement of three interval reconciles (1 s each), however long they take.
    await until(
        lambda: _at_least(reconciles(ns, "web"), count_before + 3),
        60,
        "three more interval reconciles of web",
    )
    after, count_after = await served_requests(engines.cluster), reconciles(ns, "web")
    served, done = delta(before, after), count_after - count_before

    assert done >= 3, f"only {done} interval reconciles"
    gets = {k[2]: v for k, v in served.items() if k[0] == "GET"}
    # The Kustomization itself, its GitRepository and its three dependencies all come
    # from the informers: an unchanged Kustomization's interval costs no request (reading
    # them from the API would be 5 per reconcile).
    assert gets.get("gitrepositories", 0) == 0, served
    assert gets.get("kustomizations", 0) == 0, (done, served)
    writes = {k: v for k, v in served.items() if k[0] in WRITES and k[2] in (*OURS, "events")}
    assert not writes, writes
    # The figure the report quotes: requests of any kind per interval reconcile.
    ours = sum(v for k, v in served.items() if k[2] in OURS)
    print(f"requests per interval reconcile: {ours / done:.2f} ({ours} in {done})")


async def _at_least(value: float, minimum: float) -> bool:
    return value >= minimum


async def _none_terminating(kube: KubeClient) -> bool:
    listed = await kube.get("/api/v1/namespaces")
    return all(n["status"].get("phase") != "Terminating" for n in listed["items"])


async def test_a_restart_applies_nothing_but_what_changed_meanwhile(
    bare_kube: KubeClient,
    bare_namespace: str,
    engines: Engines,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    kube, ns = bare_kube, bare_namespace
    # The engine watches this namespace only: the API server's counts are the whole
    # cluster's, and earlier tests' objects (being deleted, or left) would add to them.
    names = ["a", "b", "c", "d"]
    await setup_source(
        kube,
        ns,
        git_repos,
        http_git,
        unique_repo,
        manifests(*(configmap(n, ns, n) for n in names), _deployment(ns)),
    )
    await engines.start(namespace=ns)
    await kube.create(KS.format(ns=ns), kustomization("apps", "apps"))
    before = await wait_ready(kube, ns, "apps")
    assert before["status"]["lastAppliedDigest"].startswith("sha256:")
    await engines.stop()

    # While no engine runs, someone edits one managed object by hand.
    b = f"/api/v1/namespaces/{ns}/configmaps/b"
    await kube.patch(b, {"data": {"v": "edited by hand"}})
    untouched = await resource_versions(kube, ns, ["a", "c", "d"])
    requests_before = await served_requests(engines.cluster)

    await engines.start(namespace=ns)

    async def corrected() -> bool:
        return bool((await kube.get(b))["data"]["v"] == "b")

    await until(corrected, 60, "the hand edit to be put back")
    served = delta(requests_before, await served_requests(engines.cluster))
    assert await resource_versions(kube, ns, ["a", "c", "d"]) == untouched
    # Only b was dry-run and applied; the Deployment and the other ConfigMaps were
    # neither written nor dry-run.
    applies = {k: v for k, v in served.items() if k[0] == "APPLY"}
    assert set(applies) <= {("APPLY", "", "configmaps", ""), ("APPLY", "", "configmaps", "All")}
    assert applies.get(("APPLY", "", "configmaps", ""), 0) == 1, served
    assert applies.get(("APPLY", "", "configmaps", "All"), 0) <= 2, served
    after = await ks_status(kube, ns, "apps")
    assert after["status"]["conditions"] == before["status"]["conditions"]
    assert after["status"]["inventory"] == before["status"]["inventory"]
    events = await kube.get(f"/api/v1/namespaces/{ns}/events")
    corrections = [e["message"] for e in events["items"] if e["reason"] == "DriftCorrected"]
    assert any("ConfigMap/" in m and "/b" in m for m in corrections), corrections


def _deployment(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}
                    ]
                },
            },
        },
    }


async def test_a_crash_between_apply_and_prune_orphans_nothing(
    bare_kube: KubeClient,
    bare_namespace: str,
    engines: Engines,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    kube, ns = bare_kube, bare_namespace
    repo = await setup_source(
        kube,
        ns,
        git_repos,
        http_git,
        unique_repo,
        manifests(configmap("a", ns, "1"), configmap("b", ns, "1")),
    )
    await engines.start()
    await kube.create(KS.format(ns=ns), kustomization("apps", "apps"))
    first = await wait_ready(kube, ns, "apps")
    await engines.stop()

    # The next commit drops a and adds c. The engine that applied it died before it
    # pruned: c exists with our labels, the status still lists a and b.
    with git_repos.worktree(repo, "main") as wt:
        wt.write(manifests(configmap("c", ns, "1")))
        wt.delete("apps/configmap-a.yaml")
        revision = wt.commit("a out, c in")
        wt.push()
    c = configmap("c", ns, "1")
    c["metadata"]["labels"] = {
        "kustomize.toolkit.fluxcd.io/name": "apps",
        "kustomize.toolkit.fluxcd.io/namespace": ns,
    }
    await kube.apply(
        f"/api/v1/namespaces/{ns}/configmaps/c", c, field_manager="kustomize-controller", force=True
    )
    kept = await resource_versions(kube, ns, ["b", "c"])
    crashed = await ks_status(kube, ns, "apps")
    assert crashed["status"]["inventory"] == first["status"]["inventory"]

    await engines.start()
    done = await wait_ready(kube, ns, "apps", revision=revision)
    await until(lambda: _gone(kube, f"/api/v1/namespaces/{ns}/configmaps/a"), 30, "a pruned")
    assert await resource_versions(kube, ns, ["b", "c"]) == kept
    ids = {e["id"] for e in done["status"]["inventory"]["entries"]}
    assert ids == {f"{ns}_b__ConfigMap", f"{ns}_c__ConfigMap"}


async def _gone(kube: KubeClient, path: str) -> bool:
    return not await exists(kube, path)

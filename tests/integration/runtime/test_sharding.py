"""Sharding as Flux shards (`--watch-label-selector`): an engine reconciles the Flux
objects its selector selects and no other, a HelmRelease's chart goes to the same
shard (its HelmChart carries the release's `sharding.fluxcd.io/key`), and the shard
puts back a manual change of what its Kustomizations applied (its drift watch holds
its own share of the applied objects only)."""

from __future__ import annotations

from collections.abc import Callable

import yaml

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.engines import Engines
from tests.integration.helm.helpers import HC, HR, wait_hr
from tests.integration.kustomize.helpers import (
    GIT,
    KS,
    configmap,
    exists,
    kustomization,
    setup_source,
    wait_ready,
)
from tests.integration.security.helpers import helmrelease, tenant_charts
from tests.integration.wait import until

SHARD = {"sharding.fluxcd.io/key": "shard1"}


def labelled(obj: dict[str, object]) -> dict[str, object]:
    meta = obj.setdefault("metadata", {})
    assert isinstance(meta, dict)
    meta.setdefault("labels", {}).update(SHARD)
    return obj


async def test_an_engine_reconciles_its_shard_only(
    bare_kube: KubeClient,
    bare_namespace: str,
    engines: Engines,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    kube, ns = bare_kube, bare_namespace
    files = {
        "mine/cm.yaml": yaml.safe_dump(configmap("mine", ns)),
        "theirs/cm.yaml": yaml.safe_dump(configmap("theirs", ns)),
        **tenant_charts(),
    }
    await setup_source(kube, ns, git_repos, http_git, unique_repo, files)
    await kube.patch(f"{GIT.format(ns=ns)}/kidp-infrastructure", {"metadata": {"labels": SHARD}})
    await engines.start(watch_label_selector="sharding.fluxcd.io/key=shard1")
    await kube.create(KS.format(ns=ns), kustomization("theirs", "theirs"))
    await kube.create(KS.format(ns=ns), labelled(kustomization("mine", "mine")))
    await kube.create(HR.format(ns=ns), labelled(helmrelease("plain", "plain")))

    await wait_ready(kube, ns, "mine")
    await wait_hr(kube, ns, "plain", "True", "InstallSucceeded")
    chart = await kube.get(f"{HC.format(ns=ns)}/{ns}-plain")
    assert chart["metadata"]["labels"]["sharding.fluxcd.io/key"] == "shard1"
    # Created before "mine", and never looked at: another shard's object.
    theirs = await kube.get(f"{KS.format(ns=ns)}/theirs")
    assert "status" not in theirs or not theirs["status"].get("conditions")
    assert "finalizers" not in theirs["metadata"]
    assert not await exists(kube, f"/api/v1/namespaces/{ns}/configmaps/theirs")

    mine = f"/api/v1/namespaces/{ns}/configmaps/mine"
    await kube.patch(mine, {"data": {"v": "edited by hand"}})

    async def put_back() -> bool:
        return bool((await kube.get(mine))["data"]["v"] == "mine")

    await until(put_back, 60, "the shard to put its edited ConfigMap back")

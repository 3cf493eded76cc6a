"""`kidp stats`: objects per kind, failing, suspended, and artifact storage."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import synced_infrastructure
from tests.integration.kustomize.helpers import KS

pytestmark = pytest.mark.usefixtures("engine")


async def test_stats_counts_objects_by_kind(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)
    await kube.patch(f"{KS.format(ns=namespace)}/infrastructure", {"spec": {"suspend": True}})

    rows = json.loads((await kidp("stats", "-n", namespace, "-o", "json")).stdout)
    by_kind = {r["kind"]: r for r in rows}
    git = by_kind["GitRepository"]
    assert (git["running"], git["failing"], git["suspended"]) == (1, 0, 0)
    assert git["storage"] > 0
    ks = by_kind["Kustomization"]
    assert (ks["running"], ks["failing"], ks["suspended"], ks["storage"]) == (0, 0, 1, None)

    table = await kidp("stats", "-n", namespace)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["RECONCILERS", "RUNNING", "FAILING", "SUSPENDED", "STORAGE"]
    assert next(line for line in lines if line.startswith("Kustomization")).split() == [
        "Kustomization", "0", "0", "1", "-"
    ]  # fmt: skip

"""Who wrote what: every write of the engine names a field manager of ours, as Flux's
controllers name theirs, so `kubectl get -o yaml --show-managed-fields` tells the
controllers' status writes from a person's edits; and the request metric tells a
server-side dry run from a write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.kustomize.helpers import KS, setup_source, wait_ready
from tests.integration.source.helpers import wait_condition

pytestmark = pytest.mark.usefixtures("engine")


def managers(obj: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(manager, subresource) → the top-level fields it owns."""
    found: dict[tuple[str, str], set[str]] = {}
    for entry in obj["metadata"].get("managedFields") or []:
        key = (entry["manager"], entry.get("subresource", ""))
        fields = {name.removeprefix("f:") for name in (entry.get("fieldsV1") or {})}
        found.setdefault(key, set()).update(fields)
    return found


def requests(method: str, dry_run: str) -> float:
    """Successful requests the engine (in this process) counted so far."""
    return sum(
        REGISTRY.get_sample_value(
            "rest_client_requests_total", {"method": method, "code": code, "dry_run": dry_run}
        )
        or 0.0
        for code in ("200", "201")
    )


async def test_status_and_finalizers_name_the_controller(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    dry_runs_before = requests("PATCH", "true")
    files = {
        "app/kustomization.yaml": "resources: [config.yaml]\n",
        "app/config.yaml": (
            "apiVersion: v1\nkind: ConfigMap\n"
            f"metadata: {{name: settings, namespace: {namespace}}}\ndata: {{level: info}}\n"
        ),
    }
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await kube.create(
        KS.format(ns=namespace),
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "app"},
            "spec": {
                "interval": "5m",
                "path": "./app",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "kidp-infrastructure"},
            },
        },
    )
    ks = await wait_ready(kube, namespace, "app", "True", "ReconciliationSucceeded")
    git = await wait_condition(kube, namespace, "kidp-infrastructure", "True")

    ks_managers = managers(ks)
    assert "status" in ks_managers[("gotk-kustomize-controller", "status")]
    assert "metadata" in ks_managers[("gotk-kustomize-controller", "")]  # the finalizer
    git_managers = managers(git)
    assert "status" in git_managers[("source-controller", "status")]
    assert "metadata" in git_managers[("source-controller", "")]
    for obj in (ks, git):
        assert not [key for key in managers(obj) if key[0] == "Python"], managers(obj)

    config = await kube.get(f"/api/v1/namespaces/{namespace}/configmaps/settings")
    assert {"data", "metadata"} <= managers(config)[("kustomize-controller", "")]
    assert [key[0] for key in managers(config)] == ["kustomize-controller"]

    # The dry run before each apply is counted apart from the writes.
    assert requests("PATCH", "true") > dry_runs_before
    assert requests("GET", "false") > 0

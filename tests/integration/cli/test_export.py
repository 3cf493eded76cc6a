"""`kidp export`: every GitOps object as YAML a person could have written, credentials
on request, and good enough to rebuild a namespace from (disaster recovery)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from kidp_gitops.kube import ApiError, KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import one_line, synced_infrastructure
from tests.integration.kustomize.helpers import GIT, KS, wait_ready
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")


async def absent(kube: KubeClient, path: str) -> bool:
    try:
        await kube.get(path)
    except ApiError as err:
        if err.not_found:
            return True
        raise
    return False


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


async def test_export_restores_a_namespace(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)

    everything = await kidp("export", "-n", namespace, "--with-credentials")
    assert everything.exit_code == 0, everything.output
    assert everything.stdout.startswith("---\n")
    docs = documents(everything.stdout)
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Secret", "creds"),
        ("GitRepository", "kidp-infrastructure"),
        ("Kustomization", "infrastructure"),
    ]
    for doc in docs:
        assert "status" not in doc
        assert set(doc["metadata"]) <= {"name", "namespace", "labels", "annotations"}
    assert docs[2]["spec"]["path"] == "./infrastructure"

    plain = documents((await kidp("export", "source", "git", "--all", "-n", namespace)).stdout)
    assert [d["kind"] for d in plain] == ["GitRepository"]
    one = documents((await kidp("export", "ks", "infrastructure", "-n", namespace)).stdout)
    assert one == [docs[2]]

    # Disaster: the objects are gone (orphaning what they applied); the export brings
    # them back, and they go Ready again.
    for path in (
        f"{KS.format(ns=namespace)}/infrastructure",
        f"{GIT.format(ns=namespace)}/kidp-infrastructure",
    ):
        await kube.patch(path, {"spec": {"suspend": True}})
        await kube.patch(path, {"metadata": {"finalizers": None}})
        await kube.delete(path)
        # Gone for good before the restore: the engine may have put its finalizer back
        # between the two requests, and an apply to an object still being finalized
        # would vanish with it (what CI once saw as a restore that never went Ready).
        await until(functools.partial(absent, kube, path), timeout=30, what=f"{path} deleted")
    await kube.delete(f"/api/v1/namespaces/{namespace}/secrets/creds")
    for doc in docs:
        if doc["kind"] == "Secret":
            path = f"/api/v1/namespaces/{namespace}/secrets/creds"
        else:
            base = GIT if doc["kind"] == "GitRepository" else KS
            path = f"{base.format(ns=namespace)}/{doc['metadata']['name']}"
        await kube.apply(path, doc, field_manager="restore")
    await wait_ready(kube, namespace, "infrastructure", timeout=90)


async def test_export_needs_a_name_or_all(kidp: Kidp, namespace: str) -> None:
    result = await kidp("export", "ks", "-n", namespace)
    assert result.exit_code == 1
    assert one_line(result) == "✗ name one object, or pass --all (not both)"
    empty = await kidp("export", "-n", namespace)
    assert empty.exit_code == 0
    assert empty.stdout == ""
    assert "no objects found" in empty.output

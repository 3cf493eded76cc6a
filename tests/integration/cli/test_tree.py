"""`kidp tree kustomization`: the inventory as a tree, nested Kustomizations followed."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import yaml

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import SOURCE_INTERVAL, one_line
from tests.integration.kustomize.helpers import KS, setup_source, wait_ready

pytestmark = pytest.mark.usefixtures("engine")


def kustomization(namespace: str, name: str, path: str) -> dict[str, object]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "10m",
            "path": path,
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "kidp-infrastructure"},
        },
    }


async def test_tree_follows_nested_kustomizations(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app-config", "namespace": namespace},
        "data": {"a": "b"},
    }
    files = {
        "clusters/child.yaml": yaml.safe_dump(kustomization(namespace, "child", "./apps")),
        "apps/config.yaml": yaml.safe_dump(config),
    }
    await setup_source(
        kube, namespace, git_repos, http_git, unique_repo, files, interval=SOURCE_INTERVAL
    )
    await kube.create(KS.format(ns=namespace), kustomization(namespace, "parent", "./clusters"))
    await wait_ready(kube, namespace, "parent")
    await wait_ready(kube, namespace, "child")

    result = await kidp("tree", "kustomization", "parent", "-n", namespace)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"Kustomization/{namespace}/parent",
        f"└── Kustomization/{namespace}/child",
        f"    └── ConfigMap/{namespace}/app-config",
    ]
    compact = await kidp("tree", "ks", "parent", "-n", namespace, "--compact")
    assert compact.stdout.splitlines() == [
        f"Kustomization/{namespace}/parent",
        f"└── Kustomization/{namespace}/child",
    ]
    tree = json.loads((await kidp("tree", "ks", "parent", "-n", namespace, "-o", "json")).stdout)
    child = tree["resources"][0]
    assert (child["kind"], child["name"]) == ("Kustomization", "child")
    assert child["resources"] == [
        {"kind": "ConfigMap", "namespace": namespace, "name": "app-config", "resources": []}
    ]

    missing = await kidp("tree", "ks", "nope", "-n", namespace)
    assert missing.exit_code == 1
    assert one_line(missing) == f"✗ Kustomization '{namespace}/nope' not found"

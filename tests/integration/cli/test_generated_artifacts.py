"""The CLI on ArtifactGenerators and their ExternalArtifacts: `kidp get` lists them as
it lists other sources, and `kidp reconcile ks --with-source` on a Kustomization that
reads an ExternalArtifact reconciles the generator that writes it."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.kustomize.helpers import KS, setup_source, wait_ready
from tests.integration.source.generators import AG, generator, wait_generator

pytestmark = pytest.mark.usefixtures("engine")


async def test_get_and_reconcile_with_source(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = {"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n"}
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files, name="src")
    app = {"name": "app", "copy": [{"from": "@repo/app/**", "to": "@artifact/"}]}
    await kube.create(AG.format(ns=namespace), generator("gen", [app]))
    await wait_generator(kube, namespace, "gen")
    reader = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "reader"},
        "spec": {
            "interval": "1h",
            "path": "./",
            "prune": True,
            "targetNamespace": namespace,
            "sourceRef": {"kind": "ExternalArtifact", "name": "app"},
        },
    }
    await kube.create(KS.format(ns=namespace), reader)
    await wait_ready(kube, namespace, "reader")

    generators = json.loads((await kidp("get", "ag", "-n", namespace, "-o", "json")).stdout)
    assert [(g["name"], g["ready"]) for g in generators] == [("gen", "True")]
    external = await kidp("get", "sources", "external", "-n", namespace)
    assert external.exit_code == 0, external.output
    header, row = external.stdout.splitlines()[:2]
    assert header.split()[:2] == ["NAME", "REVISION"]
    assert row.split()[0] == "app"
    assert row.split()[1].startswith("latest@sha256:")

    done = await kidp("reconcile", "ks", "reader", "--with-source", "-n", namespace)
    assert done.exit_code == 0, done.output
    assert "annotating ArtifactGenerator gen" in done.output
    assert "annotating Kustomization reader" in done.output

"""Hostile repository content stays bounded (issue 12): on an engine with build limits of
its own (512 MiB of memory per build, 1 MiB per file), an alias bomb in a manifest, an
alias bomb and deep nesting in kustomization.yaml, and a file over the size limit each
end Ready=False, reason BuildFailed, naming the file (or what stopped it), within the
Kustomization's timeout plus a margin; nothing is applied; and another tenant's
Kustomization applies a push meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import yaml

from kidp_gitops.kube import KubeClient
from kidp_gitops.proc import sandbox
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration import namespaces
from tests.integration.engines import Engines
from tests.integration.kustomize.helpers import (
    KS,
    configmap,
    kustomization,
    ready,
    setup_source,
    wait_ready,
)
from tests.integration.security.helpers import push_and_fetch
from tests.unit.render.layout import bomb

LIMITS = sandbox.Limits(memory=512 * sandbox.MiB, file_size=1 * sandbox.MiB)
CORPUS = Path(__file__).resolve().parents[2] / "unit" / "fuzz" / "corpus" / "kustomization"
TIMEOUT = 60.0


def big_manifest() -> str:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n"
    return text + "".join(f"  k{i}: {'x' * 1000}\n" for i in range(1500))


async def test_bombs_and_big_files_fail_alone(
    bare_kube: KubeClient,
    bare_namespace: str,
    engines: Engines,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    kube, tenant = bare_kube, bare_namespace
    async with namespaces.temporary(kube, f"{tenant}-calm") as other:
        await setup_source(
            kube,
            tenant,
            git_repos,
            http_git,
            unique_repo,
            {
                "bomb/kustomization.yaml": "namePrefix: p-\nresources: [bomb.yaml]\n",
                "bomb/bomb.yaml": bomb(),
                "big/kustomization.yaml": "namePrefix: p-\nresources: [big.yaml]\n",
                "big/big.yaml": big_manifest(),
                "plain-big/big.yaml": big_manifest(),
                "ks-bomb/kustomization.yaml": (CORPUS / "alias-bomb-resources.yaml").read_text(),
                "deep/kustomization.yaml": (CORPUS / "deep-resources-250.yaml").read_text(),
            },
        )
        calm_repo = await setup_source(
            kube,
            other,
            git_repos,
            http_git,
            unique_repo,
            {"apps/cm.yaml": yaml.safe_dump(configmap("calm", other, "v1"))},
        )
        await engines.start(build_limits=LIMITS)
        await kube.create(KS.format(ns=other), kustomization("calm", "apps"))
        await wait_ready(kube, other, "calm")

        began = time.monotonic()
        timeout = {"timeout": f"{TIMEOUT:g}s"}
        for name in ("bomb", "big", "plain-big", "ks-bomb", "deep"):
            await kube.create(KS.format(ns=tenant), kustomization(name, name, **timeout))
        # Meanwhile the other tenant pushes, and its change is applied.
        files = {"apps/cm.yaml": yaml.safe_dump(configmap("calm", other, "v2"))}
        revision = await push_and_fetch(kube, git_repos, calm_repo, other, files)
        await wait_ready(kube, other, "calm", revision=revision)
        cm = await kube.get(f"/api/v1/namespaces/{other}/configmaps/calm")
        assert cm["data"]["v"] == "v2"

        expected = {
            "bomb": "kustomize build used more than 512 MiB of memory and was stopped",
            "big": "big/big.yaml is 1.4 MiB, over the 1 MiB limit of a file a build reads",
            "plain-big": "plain-big/big.yaml is 1.4 MiB, over the 1 MiB limit",
            "ks-bomb": "ks-bomb/kustomization.yaml: refused: aliases expand the document past",
            "deep": "deep/kustomization.yaml: refused: collections nested deeper than 200",
        }
        for name, said in expected.items():
            failed = await wait_ready(
                kube, tenant, name, "False", "BuildFailed", timeout=TIMEOUT + 30
            )
            assert said in ready(failed)["message"], ready(failed)["message"]
        assert time.monotonic() - began < TIMEOUT + 30
        cms = await kube.list(f"/api/v1/namespaces/{tenant}/configmaps")
        assert [c["metadata"]["name"] for c in cms["items"]] == ["kube-root-ca.crt"]

"""Routes that are always refused, with the lockdown and without (issue 11): a tenant's
kustomization that reaches another tenant's mirror on the engine's host through a
`git::file://` base, or the engine's data directory through a symlink, applies nothing,
says why, and the other tenant keeps reconciling a push meanwhile.

The same probe runs on the session's engine (Flux's defaults) and on an engine with
every lockdown flag (second control plane).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import yaml

from kidp_gitops.engine.run import Engine
from kidp_gitops.kube import KubeClient
from kidp_gitops.runtime.tenancy import Lockdown
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
from tests.integration.security.helpers import push_and_fetch, warned

PRIVATE = "tenant-a-private-value"


def _mirror(data_dir: Path, url: str) -> Path:
    """Where the source controller keeps its mirror of `url` (source/git.py)."""
    return data_dir / "git" / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.git"


async def _probe(
    kube: KubeClient,
    data_dir: Path,
    victim: str,
    attacker: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    # Tenant A: a private repository (basic auth), applied.
    repo_a = await setup_source(
        kube,
        victim,
        git_repos,
        http_git,
        unique_repo,
        {
            "base/kustomization.yaml": "resources: [cm.yaml]\n",
            "base/cm.yaml": yaml.safe_dump(configmap("private", victim, PRIVATE)),
        },
    )
    await kube.create(KS.format(ns=victim), kustomization("a", "base"))
    await wait_ready(kube, victim, "a")
    mirror = _mirror(data_dir, http_git.url(repo_a))
    assert (mirror / "HEAD").is_file(), "the mirror is on the host: the route is real"

    # Tenant B: three ways to read it from the host.
    repo_b = unique_repo("attacker")
    with git_repos.worktree(repo_b) as wt:
        wt.write(
            {
                "clone/kustomization.yaml": yaml.safe_dump(
                    {"namespace": attacker, "resources": [f"git::file://{mirror}//base?ref=main"]}
                ),
                "file/kustomization.yaml": "resources: [stolen.yaml]\n",
                "dir/kustomization.yaml": "resources: [engine-data]\n",
            }
        )
        os.symlink(mirror / "config", wt.path / "file/stolen.yaml")
        os.symlink(data_dir, wt.path / "dir/engine-data")
        wt.git("add", "--", "file/stolen.yaml", "dir/engine-data")
        wt.commit("hostile")
        wt.push()
    await kube.create(
        "/apis/source.toolkit.fluxcd.io/v1/namespaces/" + attacker + "/gitrepositories",
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "kidp-infrastructure"},
            "spec": {"interval": "1m", "url": http_git.url(repo_b), "ref": {"branch": "main"},
                     "secretRef": {"name": "creds"}},
        },
    )  # fmt: skip
    await kube.create(
        f"/api/v1/namespaces/{attacker}/secrets",
        {
            "metadata": {"name": "creds"},
            "stringData": {"username": http_git.username, "password": http_git.password},
        },
    )
    # The symlinks never reach the build: an artifact holds no symlink (as in Flux),
    # so those builds fail on a missing entry. Local symlinks out of a tree that is
    # built are refused by the reference walk (tests/unit/render/test_confinement.py).
    expected = {
        "clone": f"git::file://{mirror}//base?ref=main' is a file URL",
        "file": "'stolen.yaml'",
        "dir": "engine-data",
    }
    for name in expected:
        await kube.create(KS.format(ns=attacker), kustomization(name, name))
    for name, said in expected.items():
        failed = await wait_ready(kube, attacker, name, "False", "BuildFailed")
        assert said in ready(failed)["message"], ready(failed)["message"]
        assert "inventory" not in (failed.get("status") or {})
        await warned(kube, attacker, "Kustomization", name, "BuildFailed")
    cms = await kube.list(f"/api/v1/namespaces/{attacker}/configmaps")
    assert [c["metadata"]["name"] for c in cms["items"]] == ["kube-root-ca.crt"]
    listed = await kube.list(f"/api/v1/namespaces/{attacker}/events")
    assert PRIVATE not in str(listed)

    # Tenant A goes on: a push is applied meanwhile.
    files = {"base/cm.yaml": yaml.safe_dump(configmap("private", victim, "rotated"))}
    revision = await push_and_fetch(kube, git_repos, repo_a, victim, files)
    await wait_ready(kube, victim, "a", revision=revision)
    cm = await kube.get(f"/api/v1/namespaces/{victim}/configmaps/private")
    assert cm["data"]["v"] == "rotated"


async def test_refused_with_flux_defaults(
    kube: KubeClient,
    namespace: str,
    engine: Engine,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    async with namespaces.temporary(kube, f"{namespace}-b") as attacker:
        await _probe(
            kube, engine.options.data_dir, namespace, attacker, git_repos, http_git, unique_repo
        )


async def test_refused_under_lockdown(
    bare_kube: KubeClient,
    bare_namespace: str,
    engines: Engines,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    async with namespaces.temporary(bare_kube, f"{bare_namespace}-b") as attacker:
        await engines.start(
            Lockdown(
                no_cross_namespace_refs=True, no_remote_bases=True, default_service_account=None
            )
        )
        await _probe(
            bare_kube, engines.data_dir, bare_namespace, attacker, git_repos, http_git, unique_repo
        )

"""Setting up the GitOps objects the CLI tests act on, and reading what a user sees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from typer.testing import Result

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.conftest import repo_root
from tests.integration.source.helpers import create_secret
from tests.integration.wait import until

EXAMPLE = repo_root() / "examples" / "kidp-infrastructure"
GIT = "/apis/source.toolkit.fluxcd.io/v1/namespaces/{ns}/gitrepositories"
KS = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{ns}/kustomizations"


def one_line(result: Result) -> str:
    """The error line of a failed command: exactly one non-empty line on the output."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def example_files(namespace: str) -> dict[str, str]:
    """The example repository, with its cluster-wide names made unique per test."""
    files: dict[str, str] = {}
    for path in sorted(EXAMPLE.rglob("*")):
        if path.is_file():
            text = path.read_text()
            files[str(path.relative_to(EXAMPLE))] = (
                text.replace("kidp-system", f"{namespace}-sys")
                .replace("team-backend", f"{namespace}-be")
                .replace("team-frontend", f"{namespace}-fe")
            )
    return files


def infrastructure(namespace: str, **spec: Any) -> dict[str, Any]:
    """The PRD's `infrastructure` Kustomization, in the test's namespace."""
    docs = yaml.safe_load_all((EXAMPLE / "clusters/local/kustomizations.yaml").read_text())
    ks = next(d for d in docs if d["metadata"]["name"] == "infrastructure")
    ks["metadata"]["namespace"] = namespace
    ks["spec"]["healthChecks"][0]["namespace"] = f"{namespace}-sys"
    ks["spec"].update(spec)
    return dict(ks)


async def git_source(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    files: dict[str, str],
    name: str = "kidp-infrastructure",
) -> str:
    """A repository holding `files` and a GitRepository `name` following its main
    branch; returns the repository's name."""
    repo = unique_repo("cli")
    with git_repos.worktree(repo) as wt:
        wt.write(files)
        wt.commit("initial layout")
        wt.push()
    await create_secret(
        kube, namespace, "creds", {"username": http_git.username, "password": http_git.password}
    )
    await kube.create(
        GIT.format(ns=namespace),
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": name},
            "spec": {
                "interval": "10m",
                "url": http_git.url(repo),
                "ref": {"branch": "main"},
                "secretRef": {"name": "creds"},
            },
        },
    )
    return repo


async def wait_ready(kube: KubeClient, path: str, timeout: float = 60) -> dict[str, Any]:
    """Until the object at `path` is Ready=True for its current generation."""

    async def probe() -> dict[str, Any] | None:
        obj = await kube.get(path)
        status = obj.get("status") or {}
        ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
        current = status.get("observedGeneration") == obj["metadata"]["generation"]
        return obj if ready and ready[0]["status"] == "True" and current else None

    return await until(probe, timeout, f"{path} Ready")


async def synced_infrastructure(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> str:
    """The example repository synced by the `infrastructure` Kustomization, Ready."""
    repo = await git_source(
        kube, namespace, git_repos, http_git, unique_repo, example_files(namespace)
    )
    await kube.create(KS.format(ns=namespace), infrastructure(namespace))
    await wait_ready(kube, f"{KS.format(ns=namespace)}/infrastructure", 90)
    return repo

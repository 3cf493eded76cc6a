"""Sources and Kustomizations for the Kustomize controller's tests, and waiting on them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from kidp_gitops.kube import ApiError, KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.conftest import repo_root
from tests.integration.source.helpers import create_secret
from tests.integration.wait import until_object

EXAMPLE = repo_root() / "examples" / "kidp-infrastructure"
KS = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{ns}/kustomizations"
GIT = "/apis/source.toolkit.fluxcd.io/v1/namespaces/{ns}/gitrepositories"


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


async def setup_source(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    files: dict[str, str],
    *,
    name: str = "kidp-infrastructure",
    interval: str = "1m",
) -> str:
    """A new repository holding `files`, and a GitRepository `name` following its main
    branch over HTTP with basic auth (Secret `creds`); returns the repository's name."""
    repo = unique_repo("infra")
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
                "interval": interval,
                "url": http_git.url(repo),
                "ref": {"branch": "main"},
                "secretRef": {"name": "creds"},
            },
        },
    )
    return repo


def prd_infrastructure(namespace: str, **spec: Any) -> dict[str, Any]:
    """The PRD's `infrastructure` Kustomization, in the test's namespace; `spec` adds or
    replaces fields."""
    docs = list(yaml.safe_load_all((EXAMPLE / "clusters/local/kustomizations.yaml").read_text()))
    ks = next(d for d in docs if d["metadata"]["name"] == "infrastructure")
    ks["metadata"]["namespace"] = namespace
    ks["spec"]["healthChecks"][0]["namespace"] = f"{namespace}-sys"
    ks["spec"].update(spec)
    return dict(ks)


def kustomization(
    name: str, path: str, *, source_namespace: str | None = None, **spec: Any
) -> dict[str, Any]:
    """A Kustomization `name` that applies ./`path` of the `kidp-infrastructure` source
    (in `source_namespace`, else its own) with prune on, hourly (so only a new revision
    or a request reconciles it); `spec` adds or replaces fields."""
    source = {"kind": "GitRepository", "name": "kidp-infrastructure"}
    if source_namespace:
        source["namespace"] = source_namespace
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name},
        "spec": {"interval": "1h", "path": f"./{path}", "prune": True, "sourceRef": source, **spec},
    }


def configmap(name: str, namespace: str, value: str | None = None) -> dict[str, Any]:
    """A ConfigMap whose one key `v` holds `value` (else its name)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"v": name if value is None else value},
    }


def manifests(*objects: dict[str, Any], directory: str = "apps") -> dict[str, str]:
    """Repository files for `objects`: `<directory>/<kind>-<name>.yaml`."""
    return {
        f"{directory}/{o['kind'].lower()}-{o['metadata']['name']}.yaml": yaml.safe_dump(o)
        for o in objects
    }


async def apply_apps(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    files: dict[str, str],
) -> str:
    """`files` in a new repository, applied from ./apps by a Kustomization `apps` that
    is Ready; the repository."""
    repo = await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await kube.create(KS.format(ns=namespace), kustomization("apps", "apps"))
    await wait_ready(kube, namespace, "apps")
    return repo


async def ks_status(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    return await kube.get(f"{KS.format(ns=namespace)}/{name}")


def ready(obj: dict[str, Any]) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == "Ready":
            return dict(c)
    return {}


async def wait_ready(
    kube: KubeClient,
    namespace: str,
    name: str,
    status: str = "True",
    reason: str | None = None,
    revision: str | None = None,
    timeout: float = 60,
) -> dict[str, Any]:
    def check(obj: dict[str, Any] | None) -> dict[str, Any] | None:
        if obj is None:
            return None
        r = ready(obj)
        ok = r.get("status") == status and reason in (None, r.get("reason"))
        if revision:
            ok = ok and obj["status"].get("lastAttemptedRevision", "").endswith(revision)
        return obj if ok else None

    what = f"Kustomization {name} Ready={status} {reason or ''}"
    return await until_object(kube, f"{KS.format(ns=namespace)}/{name}", check, timeout, what)


async def exists(kube: KubeClient, path: str) -> bool:
    try:
        await kube.get(path)
    except ApiError as err:
        if err.not_found:
            return False
        raise
    return True

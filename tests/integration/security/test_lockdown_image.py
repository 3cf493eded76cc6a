"""--no-cross-namespace-refs in the image controllers, on engines started with and without
it (on the second control plane of conftest.py, where no other engine acts), against the
real registry and git server:

    ImagePolicy            an ImageRepository of another namespace is refused (Stalled,
                           AccessDenied, a Warning event, no latest image), even when its
                           accessFrom grants the policy's namespace
    ImageUpdateAutomation  a GitRepository of another namespace is refused (Stalled,
                           AccessDenied, a Warning event), and nothing is pushed

Each refusal has its positive controls: the same object aimed at its own namespace works
under the lockdown, and the cross-namespace route works without it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from kidp_gitops.kube import KubeClient
from kidp_gitops.runtime.tenancy import Lockdown
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.engines import Engines
from tests.integration.image.helpers import create, path, wait_ready
from tests.integration.image.registry import Registry
from tests.integration.security.helpers import assert_access_denied
from tests.integration.source.helpers import create_repo, create_secret

LOCKED = Lockdown(no_cross_namespace_refs=True)


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    with Registry() as reg:
        yield reg


@pytest.fixture
def other(bare_other_namespace: str) -> str:
    """A second tenant's namespace."""
    return bare_other_namespace


async def assert_refused(kube: KubeClient, kind: str, namespace: str, name: str, ref: str) -> None:
    """Stalled, AccessDenied naming `ref`, and a Warning event saying so."""
    refused = await wait_ready(kube, kind, namespace, name, "False", "AccessDenied")
    await assert_access_denied(kube, refused, ref)


async def image_repository(
    kube: KubeClient, registry: Registry, namespace: str, shared_with: str | None = None
) -> str:
    """ImageRepository "app" (tags 1.0.0 and 1.1.0), its accessFrom granting the
    namespaces labelled `images: <shared_with>`; once scanned, its image."""
    repo = f"team/app-{uuid.uuid4().hex[:8]}"
    registry.push(repo, "1.0.0", "1.1.0")
    spec: dict[str, object] = {
        "image": f"{registry.host}/{repo}",
        "interval": "1h",
        "insecure": True,
    }
    if shared_with:
        spec["accessFrom"] = {"namespaceSelectors": [{"matchLabels": {"images": shared_with}}]}
    await create(kube, "ImageRepository", namespace, "app", spec)
    await wait_ready(kube, "ImageRepository", namespace, "app")
    return f"{registry.host}/{repo}"


async def image_policy(kube: KubeClient, namespace: str, name: str, repo_namespace: str) -> None:
    ref = {"name": "app"} | ({"namespace": repo_namespace} if repo_namespace != namespace else {})
    spec = {"imageRepositoryRef": ref, "policy": {"semver": {"range": ">=1.0.0"}}}
    await create(kube, "ImagePolicy", namespace, name, spec)


async def shared_repository(kube: KubeClient, registry: Registry, home: str, other: str) -> None:
    """The other tenant's repository, whose accessFrom grants `home` (labelled for it)."""
    await kube.patch(f"/api/v1/namespaces/{home}", {"metadata": {"labels": {"images": other}}})
    await image_repository(kube, registry, other, shared_with=other)


async def test_a_policy_reads_no_other_namespace_under_lockdown(
    bare_kube: KubeClient, bare_namespace: str, other: str, engines: Engines, registry: Registry
) -> None:
    kube, home = bare_kube, bare_namespace
    await engines.start(LOCKED)
    await shared_repository(kube, registry, home, other)
    await image_policy(kube, home, "cross", other)
    await assert_refused(kube, "ImagePolicy", home, "cross", f"ImageRepository/{other}/app")
    refused = await kube.get(path("ImagePolicy", home, "cross"))
    assert "latestImage" not in refused["status"]
    assert "latestRef" not in refused["status"]

    # The same policy aimed at its own namespace's repository works under the lockdown.
    image = await image_repository(kube, registry, home)
    await image_policy(kube, home, "own", home)
    own = await wait_ready(kube, "ImagePolicy", home, "own")
    assert own["status"]["latestImage"] == f"{image}:1.1.0"


async def test_without_lockdown_access_from_lets_a_policy_read_another_namespace(
    bare_kube: KubeClient, bare_namespace: str, other: str, engines: Engines, registry: Registry
) -> None:
    kube, home = bare_kube, bare_namespace
    await engines.start()
    await shared_repository(kube, registry, home, other)
    await image_policy(kube, home, "cross", other)
    allowed = await wait_ready(kube, "ImagePolicy", home, "cross")
    assert allowed["status"]["latestRef"]["tag"] == "1.1.0"


async def app_policy(kube: KubeClient, registry: Registry, namespace: str) -> str:
    """ImagePolicy "app" of the namespace's own ImageRepository, picked; the image."""
    image = await image_repository(kube, registry, namespace)
    await image_policy(kube, namespace, "app", namespace)
    await wait_ready(kube, "ImagePolicy", namespace, "app")
    return image


async def git_source(
    kube: KubeClient,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    namespace: str,
    image: str,
    policy_namespace: str,
) -> str:
    """A git repository whose app.yaml pins `image:1.0.0` for the policy "app" of
    `policy_namespace`, and GitRepository "apps" of `namespace` on it; the repository."""
    name = unique_repo("apps")
    marker = f'{{"$imagepolicy": "{policy_namespace}:app"}}'
    with git_repos.worktree(name) as wt:
        wt.write({"app.yaml": f"image: {image}:1.0.0 # {marker}\n"})
        wt.commit("app")
        wt.push()
    creds = {"username": http_git.username, "password": http_git.password}
    await create_secret(kube, namespace, "git-creds", creds)
    spec = {"interval": "1h", "url": http_git.url(name), "secretRef": {"name": "git-creds"}}
    await create_repo(kube, namespace, "apps", spec)
    return name


async def automation(kube: KubeClient, namespace: str, name: str, source_namespace: str) -> None:
    source = {"kind": "GitRepository", "name": "apps"}
    if source_namespace != namespace:
        source["namespace"] = source_namespace
    git = {"commit": {"author": {"name": "Bot", "email": "bot@example.com"}}}
    spec = {"interval": "1h", "sourceRef": source, "git": git}
    await create(kube, "ImageUpdateAutomation", namespace, name, spec)


async def pushed(kube: KubeClient, namespace: str, name: str) -> str:
    done = await wait_ready(
        kube,
        "ImageUpdateAutomation",
        namespace,
        name,
        also=lambda o: bool(o["status"].get("lastPushCommit")),
    )
    return str(done["status"]["lastPushCommit"])


async def test_an_automation_pushes_through_no_other_namespace_under_lockdown(
    bare_kube: KubeClient,
    bare_namespace: str,
    other: str,
    engines: Engines,
    registry: Registry,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    kube, home = bare_kube, bare_namespace
    await engines.start(LOCKED)
    image = await app_policy(kube, registry, home)
    theirs = await git_source(kube, git_repos, http_git, unique_repo, other, image, home)
    with git_repos.worktree(theirs) as wt:
        before = wt.head()
    await automation(kube, home, "cross", other)
    await assert_refused(
        kube, "ImageUpdateAutomation", home, "cross", f"GitRepository/{other}/apps"
    )
    refused = await kube.get(path("ImageUpdateAutomation", home, "cross"))
    assert "lastPushCommit" not in refused["status"]
    assert "lastAutomationRunTime" not in refused["status"]  # not even cloned
    with git_repos.worktree(theirs) as wt:
        assert wt.head() == before
        assert f"{image}:1.0.0" in (wt.path / "app.yaml").read_text()

    # Aimed at its own namespace's GitRepository, the automation pushes under the lockdown.
    ours = await git_source(kube, git_repos, http_git, unique_repo, home, image, home)
    await automation(kube, home, "own", home)
    commit = await pushed(kube, home, "own")
    with git_repos.worktree(ours) as wt:
        assert wt.head() == commit
        assert f"{image}:1.1.0" in (wt.path / "app.yaml").read_text()


async def test_without_lockdown_an_automation_pushes_through_another_namespace(
    bare_kube: KubeClient,
    bare_namespace: str,
    other: str,
    engines: Engines,
    registry: Registry,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    kube, home = bare_kube, bare_namespace
    await engines.start()
    image = await app_policy(kube, registry, home)
    theirs = await git_source(kube, git_repos, http_git, unique_repo, other, image, home)
    await automation(kube, home, "cross", other)
    commit = await pushed(kube, home, "cross")
    with git_repos.worktree(theirs) as wt:
        assert wt.head() == commit
        assert f"{image}:1.1.0" in (wt.path / "app.yaml").read_text()

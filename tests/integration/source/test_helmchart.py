"""HelmChart against real sources: a chart repository served on loopback (charts packaged
and indexed by the real helm) and a real git server, on the real control plane. Charts
are pulled (newest version in range, with the repository's credentials) or packaged
from a Git path with the real `helm package`; bad references fail with Flux's reasons."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from kidp_gitops.kube import ApiError, KubeClient
from kidp_gitops.source import helmindex
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.source.helmrepos import (
    ChartRepo,
    chart_files,
    create,
    create_chart,
    helm,
    path,
    request_reconcile,
    serve,
    wait_artifact,
    wait_ready,
    write_tree,
)
from tests.integration.source.helpers import artifact_files, condition, create_secret
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")
CHART = "HelmChart"
CREDENTIALS = {"username": "reader", "password": "pw-for-charts"}


@pytest.fixture
async def private_repo(tmp_path: Path) -> AsyncIterator[ChartRepo]:
    async for repo in serve(tmp_path / "repo", username="reader", password="pw-for-charts"):
        yield repo


async def private_charts(kube: KubeClient, namespace: str, repo: ChartRepo, **spec: Any) -> None:
    """`repo` as the HelmRepository `charts`, with its credentials in the Secret `creds`."""
    await create_secret(kube, namespace, "creds", CREDENTIALS)
    full = {"interval": "1h", "url": repo.url, "secretRef": {"name": "creds"}, **spec}
    await create(kube, "HelmRepository", namespace, "charts", full)


def chart_yaml(files: dict[str, bytes], chart: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(files[f"{chart}/Chart.yaml"])
    return loaded


async def test_newest_matching_version_is_pulled_with_credentials_and_follows_the_index(
    kube: KubeClient, namespace: str, private_repo: ChartRepo
) -> None:
    for version in ("1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0"):
        private_repo.publish("hello", version)
    await private_charts(kube, namespace, private_repo)
    await create_chart(kube, namespace, "hello", "hello", version="1.x")
    obj = await wait_ready(kube, CHART, namespace, "hello", "True", "ChartPullSucceeded")
    assert obj["status"]["artifact"]["revision"] == "1.1.0"
    assert condition(obj)["message"] == "pulled 'hello' chart with version '1.1.0'"
    assert obj["status"]["observedChartName"] == "hello"
    files = await artifact_files(obj)
    assert chart_yaml(files, "hello")["version"] == "1.1.0"
    assert "hello/templates/configmap.yaml" in files
    downloads = [auth for p, auth in private_repo.requests if p.endswith("hello-1.1.0.tgz")]
    assert downloads
    assert all(auth and auth.startswith("Basic ") for auth in downloads)

    # A version out of range: a new index, the same chart, nothing downloaded again.
    private_repo.publish("hello", "2.1.0")
    await request_reconcile(kube, "HelmRepository", namespace, "charts")
    new_index = (private_repo.charts / "index.yaml").read_bytes()
    index = await wait_artifact(
        kube, "HelmRepository", namespace, "charts", helmindex.revision(new_index)
    )

    async def chart_saw_index() -> dict[str, Any] | None:
        obj = await kube.get(path(CHART, namespace, "hello"))
        seen = obj["status"].get("observedSourceArtifactRevision")
        return obj if seen == index["status"]["artifact"]["revision"] else None

    same = await until(chart_saw_index, 60, "the chart to read the new index")
    assert same["status"]["artifact"] == obj["status"]["artifact"]
    assert len([p for p, _ in private_repo.requests if p.endswith("hello-1.1.0.tgz")]) == len(
        downloads
    )

    # A new version in range is published: the repository's next index brings it.
    private_repo.publish("hello", "1.3.0")
    await request_reconcile(kube, "HelmRepository", namespace, "charts")
    obj = await wait_artifact(kube, CHART, namespace, "hello", "1.3.0")
    assert chart_yaml(await artifact_files(obj), "hello")["version"] == "1.3.0"


async def test_a_version_nobody_published_stalls_as_invalid_chart_reference(
    kube: KubeClient, namespace: str, private_repo: ChartRepo
) -> None:
    private_repo.publish("hello", "1.0.0")
    await private_charts(kube, namespace, private_repo)
    for name, chart, version in (("nine", "hello", "9.*"), ("other", "absent", "*")):
        await create_chart(kube, namespace, name, chart, version=version)
    nine = await wait_ready(kube, CHART, namespace, "nine", "False", "InvalidChartReference")
    assert "no 'hello' chart with version matching '9.*'" in condition(nine)["message"]
    assert condition(nine, "Stalled")["status"] == "True"
    other = await wait_ready(kube, CHART, namespace, "other", "False", "InvalidChartReference")
    assert "no chart named 'absent'" in condition(other)["message"]


def seed_charts(git_repos: GitRepos, name: str) -> str:
    """charts/app depending on charts/lib through file://, a production values file, and
    charts/broken, whose version helm refuses."""
    app = chart_files(
        "app",
        "0.1.0",
        {"greeting": "hello", "nested": {"a": 1, "b": 2}},
        {"values-prod.yaml": yaml.safe_dump({"greeting": "hi prod", "nested": {"b": 3}})},
    )
    chart = yaml.safe_load(app["Chart.yaml"])
    chart["dependencies"] = [{"name": "lib", "version": "0.2.0", "repository": "file://../lib"}]
    app["Chart.yaml"] = yaml.safe_dump(chart)
    files = {f"charts/app/{k}": v for k, v in app.items()}
    files.update({f"charts/lib/{k}": v for k, v in chart_files("lib", "0.2.0").items()})
    files["charts/broken/Chart.yaml"] = "apiVersion: v2\nname: broken\nversion: not-semver\n"
    with git_repos.worktree(name) as wt:
        wt.write(files)
        sha = wt.commit("charts")
        wt.push()
    return sha


async def git_source(kube: KubeClient, namespace: str, http_git: GitHttpServer, repo: str) -> None:
    await create_secret(
        kube, namespace, "git", {"username": http_git.username, "password": http_git.password}
    )
    await create(
        kube,
        "GitRepository",
        namespace,
        "repo",
        {"interval": "1h", "url": http_git.url(repo), "secretRef": {"name": "git"}},
    )


async def test_chart_from_git_is_packaged_with_dependencies_and_values_files(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    repo = unique_repo("charts")
    sha = seed_charts(git_repos, repo)
    await git_source(kube, namespace, http_git, repo)
    await create_chart(kube, namespace, "plain", "./charts/app", "GitRepository/repo")
    await create_chart(
        kube,
        namespace,
        "prod",
        "charts/app",
        "GitRepository/repo",
        reconcileStrategy="Revision",
        valuesFiles=["charts/app/values.yaml", "charts/app/values-prod.yaml"],
    )
    plain = await wait_ready(kube, CHART, namespace, "plain", "True", "ChartPackageSucceeded")
    assert plain["status"]["artifact"]["revision"] == "0.1.0"
    assert condition(plain)["message"] == "packaged 'app' chart with version '0.1.0'"
    files = await artifact_files(plain)
    assert yaml.safe_load(files["app/values.yaml"])["greeting"] == "hello"
    # The file:// dependency was built into the chart by `helm dependency build`.
    assert yaml.safe_load(files["app/charts/lib/Chart.yaml"])["version"] == "0.2.0"

    prod = await wait_ready(kube, CHART, namespace, "prod", "True", "ChartPackageSucceeded")
    generation = prod["metadata"]["generation"]
    assert prod["status"]["artifact"]["revision"] == f"0.1.0+{sha[:12]}.{generation}"
    files = await artifact_files(prod)
    assert chart_yaml(files, "app")["version"] == f"0.1.0+{sha[:12]}.{generation}"
    assert yaml.safe_load(files["app/values.yaml"]) == {
        "greeting": "hi prod",
        "nested": {"a": 1, "b": 3},
    }
    assert prod["status"]["observedValuesFiles"] == [
        "charts/app/values.yaml",
        "charts/app/values-prod.yaml",
    ]

    # A spec change builds the chart again: the same chart gives the same artifact bytes.
    await kube.patch(path(CHART, namespace, "plain"), {"spec": {"interval": "2h"}})
    rebuilt = await wait_ready(kube, CHART, namespace, "plain", "True", "ChartPackageSucceeded")
    assert rebuilt["metadata"]["generation"] == plain["metadata"]["generation"] + 1
    assert rebuilt["status"]["artifact"] == plain["status"]["artifact"]

    # A new commit: the Revision strategy makes a new chart, ChartVersion keeps its own.
    with git_repos.worktree(repo, "main") as wt:
        wt.write({"charts/app/templates/extra.yaml": "# nothing\n"})
        new = wt.commit("extra template")
        wt.push()
    await request_reconcile(kube, "GitRepository", namespace, "repo")
    await wait_artifact(kube, CHART, namespace, "prod", f"0.1.0+{new[:12]}.{generation}")

    async def plain_saw_it() -> dict[str, Any] | None:
        obj = await kube.get(path(CHART, namespace, "plain"))
        seen = obj["status"].get("observedSourceArtifactRevision", "")
        return obj if seen.endswith(new) and condition(obj).get("status") == "True" else None

    again = await until(plain_saw_it, 60, "the ChartVersion chart to see the new commit")
    assert again["status"]["artifact"] == plain["status"]["artifact"]


async def test_bad_chart_paths_fail_clearly(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    repo = unique_repo("charts")
    seed_charts(git_repos, repo)
    await git_source(kube, namespace, http_git, repo)
    cases = {
        "outside": ("../../../etc", "IllegalPath", "chart path '../../../etc' is outside"),
        "missing": ("./charts/nope", "InvalidChartReference", "no Helm chart at './charts/nope'"),
        "no-values": ("./charts/app", "InvalidChartReference", "values file 'absent.yaml'"),
        "broken": ("charts/broken", "ChartPackageError", 'version "not-semver" is invalid'),
    }
    for name, (chart, _, _) in cases.items():
        spec: dict[str, Any] = {
            "interval": "1h",
            "chart": chart,
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
        }
        if name == "no-values":
            spec["valuesFiles"] = ["absent.yaml"]
        await create(kube, CHART, namespace, name, spec)
    for name, (_, reason, text) in cases.items():
        obj = await wait_ready(kube, CHART, namespace, name, "False", reason)
        assert text in condition(obj)["message"], condition(obj)
        assert "artifact" not in obj["status"]
        # A chart helm refuses may be fixed by the next commit: retried, not stalled.
        stalled = condition(obj, "Stalled").get("status") == "True"
        assert stalled == (reason != "ChartPackageError")


async def test_waits_for_a_missing_source(kube: KubeClient, namespace: str) -> None:
    await create_chart(kube, namespace, "orphan", "hello", "HelmRepository/nowhere")
    obj = await wait_ready(kube, CHART, namespace, "orphan", "False", "SourceUnavailable")
    assert "HelmRepository" in condition(obj)["message"]
    assert condition(obj, "Stalled") == {}


@pytest.fixture
async def mirror(tmp_path: Path) -> AsyncIterator[ChartRepo]:
    async for repo in serve(tmp_path / "mirror"):
        yield repo


@pytest.mark.parametrize("pass_credentials", [False, True])
async def test_credentials_reach_other_hosts_only_with_pass_credentials(
    kube: KubeClient,
    namespace: str,
    private_repo: ChartRepo,
    mirror: ChartRepo,
    pass_credentials: bool,
) -> None:
    # The private repository's index sends chart downloads to another server.
    archive = mirror.publish("hello", "1.0.0")
    shutil.copy(archive, private_repo.charts)
    private_repo.index(base_url=mirror.url)
    await private_charts(kube, namespace, private_repo, passCredentials=pass_credentials)
    await create_chart(kube, namespace, "hello", "hello")
    await wait_ready(kube, CHART, namespace, "hello", "True", "ChartPullSucceeded")
    sent = [auth for p, auth in mirror.requests if p.endswith("hello-1.0.0.tgz")]
    assert sent
    assert all((auth is not None) == pass_credentials for auth in sent)


async def test_a_chart_archive_in_git_and_deletion_of_the_chart(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    src = tmp_path / "hello"
    write_tree(src, chart_files("hello", "3.2.1"))
    helm("package", str(src), "--destination", str(tmp_path))
    repo = unique_repo("archive")
    with git_repos.worktree(repo) as wt:
        wt.write({"packaged/hello-3.2.1.tgz": (tmp_path / "hello-3.2.1.tgz").read_bytes()})
        wt.commit("a packaged chart")
        wt.push()
    await git_source(kube, namespace, http_git, repo)
    await create_chart(
        kube, namespace, "archived", "./packaged/hello-3.2.1.tgz", "GitRepository/repo"
    )
    obj = await wait_ready(kube, CHART, namespace, "archived", "True", "ChartPackageSucceeded")
    assert obj["status"]["artifact"]["revision"] == "3.2.1"
    assert "hello/templates/configmap.yaml" in await artifact_files(obj)

    # Deleted: the object goes (the finalizer ran) and so does its artifact.
    url = obj["status"]["artifact"]["url"]
    await kube.delete(path(CHART, namespace, "archived"))

    async def gone() -> bool:
        try:
            await kube.get(path(CHART, namespace, "archived"))
        except ApiError as err:
            return err.not_found
        return False

    await until(gone, 60, "the HelmChart to be deleted")
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 404


async def test_a_tampered_or_missing_archive_is_a_chart_pull_error(
    kube: KubeClient, namespace: str, private_repo: ChartRepo
) -> None:
    tampered = private_repo.publish("hello", "1.0.0")
    missing = private_repo.publish("other", "1.0.0")
    tampered.write_bytes(tampered.read_bytes() + b"\0")  # after indexing: the digest differs
    missing.unlink()
    await private_charts(kube, namespace, private_repo)
    for name in ("hello", "other"):
        await create_chart(kube, namespace, name, name)
    hello = await wait_ready(kube, CHART, namespace, "hello", "False", "ChartPullError")
    assert condition(hello)["message"] == (
        "failed to pull chart 'hello' version '1.0.0': its sha256 does not match the digest"
        " in the index"
    )
    other = await wait_ready(kube, CHART, namespace, "other", "False", "ChartPullError")
    message = condition(other)["message"]
    assert message.startswith("failed to pull chart 'other' version '1.0.0': GET ")
    assert "HTTP 404" in message
    assert CREDENTIALS["password"] not in message

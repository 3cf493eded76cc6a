"""ArtifactGenerator and ExternalArtifact on the real control plane, from a real git
server: a repository in Flux 2.7's layout (written from Flux's documentation of
source-watcher: a GitRepository split by an ArtifactGenerator into one ExternalArtifact
per component, each applied by a Kustomization, the apps after the infrastructure)
reconciles to Ready as it is; a commit produces new revisions only for the artifacts
whose content changed; a path pattern makes one artifact per directory; and what the
generator owns it removes."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from kidp_gitops.kube import ApiError, KubeClient
from kidp_gitops.runtime.tenancy import Lockdown
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration import namespaces
from tests.integration.engines import Engines
from tests.integration.helm.helpers import wait_hr
from tests.integration.kustomize.helpers import KS, setup_source, wait_ready
from tests.integration.source.generators import (
    AG,
    GENERATOR_LABEL,
    external_artifact,
    generator,
    wait_generator,
)
from tests.integration.source.helmrepos import chart_files
from tests.integration.source.helpers import artifact_files, condition
from tests.integration.source.helpers import request_reconcile as request_git_reconcile
from tests.integration.source.s3server import S3Server
from tests.integration.source.test_bucket import create_bucket, keys_secret, new_bucket
from tests.integration.source.test_bucket import request_reconcile as request_bucket_reconcile
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")


def flux27_layout() -> dict[str, str]:
    """A monorepo as Flux 2.7's source-watcher documents it: the cluster directory holds
    the generator and the Kustomizations of its artifacts."""
    files = {
        "clusters/production/artifacts.yaml": """
            apiVersion: source.extensions.fluxcd.io/v1beta1
            kind: ArtifactGenerator
            metadata:
              name: platform
            spec:
              sources:
                - alias: repo
                  kind: GitRepository
                  name: flux-system
              artifacts:
                - name: infrastructure
                  originRevision: "@repo"
                  copy:
                    - from: "@repo/infrastructure/**"
                      to: "@artifact/"
                      exclude: ["*.md"]
                - name: apps
                  originRevision: "@repo"
                  copy:
                    - from: "@repo/apps/base/"
                      to: "@artifact/"
                    - from: "@repo/apps/production/**"
                      to: "@artifact/production/"
                    - from: "@repo/apps/production/settings-prod.yaml"
                      to: "@artifact/base/settings.yaml"
                      strategy: Merge
        """,
        "clusters/production/infrastructure.yaml": """
            apiVersion: kustomize.toolkit.fluxcd.io/v1
            kind: Kustomization
            metadata:
              name: infrastructure
            spec:
              interval: 1h
              retryInterval: 5s
              sourceRef:
                kind: ExternalArtifact
                name: infrastructure
              path: ./
              prune: true
              wait: true
              targetNamespace: ${cluster_namespace}
        """,
        "clusters/production/apps.yaml": """
            apiVersion: kustomize.toolkit.fluxcd.io/v1
            kind: Kustomization
            metadata:
              name: apps
            spec:
              dependsOn:
                - name: infrastructure
              interval: 1h
              retryInterval: 5s
              sourceRef:
                kind: ExternalArtifact
                name: apps
              path: ./production
              prune: true
              targetNamespace: ${cluster_namespace}
        """,
        "infrastructure/configs/cluster-settings.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: cluster-settings
            data:
              region: eu-west-1
        """,
        "infrastructure/README.md": "# Infrastructure\n",
        "apps/base/kustomization.yaml": """
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            resources:
              - settings.yaml
        """,
        "apps/base/settings.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: app-settings
            data:
              replicas: "1"
              color: blue
        """,
        "apps/production/kustomization.yaml": """
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            resources:
              - ../base
        """,
        "apps/production/settings-prod.yaml": """
            data:
              replicas: "3"
        """,
    }
    return {path: textwrap.dedent(text).lstrip() for path, text in files.items()}


async def bootstrap(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    files: dict[str, str],
) -> str:
    """What `flux bootstrap` leaves: the GitRepository `flux-system` and a Kustomization
    `flux-system` applying the cluster's directory (here into the test's namespace)."""
    repo = await setup_source(
        kube, namespace, git_repos, http_git, unique_repo, files, name="flux-system"
    )
    await kube.create(
        KS.format(ns=namespace),
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "flux-system"},
            "spec": {
                "interval": "1h",
                "path": "./clusters/production",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                "targetNamespace": namespace,
                "postBuild": {"substitute": {"cluster_namespace": namespace}},
            },
        },
    )
    return repo


async def configmap(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    return await kube.get(f"/api/v1/namespaces/{namespace}/configmaps/{name}")


async def test_a_flux_27_layout_reconciles_and_follows_new_commits(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    repo = await bootstrap(kube, namespace, git_repos, http_git, unique_repo, flux27_layout())
    await wait_ready(kube, namespace, "flux-system", timeout=90)
    generator = await wait_generator(kube, namespace, "platform")
    assert {e["name"] for e in generator["status"]["inventory"]} == {"infrastructure", "apps"}
    await wait_ready(kube, namespace, "infrastructure", timeout=90)
    apps = await wait_ready(kube, namespace, "apps", timeout=90)

    infra = await external_artifact(kube, namespace, "infrastructure")
    app_artifact = await external_artifact(kube, namespace, "apps")
    git = await kube.get(
        f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{namespace}/gitrepositories/flux-system"
    )
    commit = git["status"]["artifact"]["revision"]
    for ea in (infra, app_artifact):
        artifact = ea["status"]["artifact"]
        # Flux's rules: the content's digest as the revision, the commit as its origin.
        assert artifact["revision"] == f"latest@{artifact['digest']}"
        assert artifact["metadata"]["org.opencontainers.image.revision"] == commit
        assert ea["metadata"]["labels"][GENERATOR_LABEL] == generator["metadata"]["uid"]
        assert ea["spec"]["sourceRef"] == {
            "apiVersion": "source.extensions.fluxcd.io/v1beta1",
            "kind": "ArtifactGenerator",
            "name": "platform",
            "namespace": namespace,
        }
        assert condition(ea)["status"] == "True"
    assert apps["status"]["lastAppliedRevision"] == app_artifact["status"]["artifact"]["revision"]
    assert apps["status"]["lastAppliedOriginRevision"] == commit
    # The tarball holds what the copies say: no README; `apps/base/` copied as a
    # directory, `production/**` as its contents, the production values merged into base.
    assert set(await artifact_files(infra)) == {"configs/cluster-settings.yaml"}
    files = await artifact_files(app_artifact)
    assert set(files) == {
        "base/kustomization.yaml",
        "base/settings.yaml",
        "production/kustomization.yaml",
        "production/settings-prod.yaml",
    }
    settings = await configmap(kube, namespace, "app-settings")
    assert settings["data"] == {"replicas": "3", "color": "blue"}
    assert (await configmap(kube, namespace, "cluster-settings"))["data"] == {"region": "eu-west-1"}

    # A commit to the apps only: a new apps artifact, applied; infrastructure unchanged.
    with git_repos.worktree(repo) as wt:
        wt.write({"apps/production/settings-prod.yaml": "data:\n  replicas: '5'\n"})
        wt.commit("scale the app")
        wt.push()
    await request_git_reconcile(kube, namespace, "flux-system")
    old = app_artifact["status"]["artifact"]["revision"]

    async def new_revision() -> dict[str, Any] | None:
        ea = await external_artifact(kube, namespace, "apps")
        return ea if ea["status"]["artifact"]["revision"] != old else None

    moved = await until(new_revision, 60, "a new revision of the apps artifact")
    await until(
        lambda: _data_is(kube, namespace, "app-settings", {"replicas": "5", "color": "blue"}),
        60,
        "the new replicas applied",
    )
    assert (await external_artifact(kube, namespace, "infrastructure"))["status"]["artifact"][
        "revision"
    ] == infra["status"]["artifact"]["revision"]
    new_commit = (
        await kube.get(
            f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{namespace}/gitrepositories/flux-system"
        )
    )["status"]["artifact"]["revision"]
    assert moved["status"]["artifact"]["metadata"]["org.opencontainers.image.revision"] == (
        new_commit
    )
    await wait_ready(
        kube, namespace, "apps", revision=moved["status"]["artifact"]["revision"], timeout=60
    )


async def _data_is(kube: KubeClient, namespace: str, name: str, data: dict[str, str]) -> bool:
    return (await configmap(kube, namespace, name)).get("data") == data


async def test_owned_artifacts_are_garbage_collected_and_bad_copies_fail_visibly(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    # The source does not exist yet: the generator waits for it, and says so.
    one = {"name": "one", "revision": "@repo", "copy": [{"from": "@repo/a/", "to": "@artifact/"}]}
    two = {"name": "two", "copy": [{"from": "@repo/b/*.yaml", "to": "@artifact/"}]}
    common = {
        "labels": {"env": "prod", GENERATOR_LABEL: "not-yours"},
        "annotations": {"description": "generated"},
    }
    await kube.create(AG.format(ns=namespace), generator("gen", [one, two], commonMetadata=common))
    waiting = await wait_generator(kube, namespace, "gen", "False", "SourceFetchFailed")
    assert "not found" in condition(waiting)["message"]

    files = {"a/x.yaml": "x: 1\n", "b/y.yaml": "y: 1\n"}
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files, name="src")
    gen = await wait_generator(kube, namespace, "gen")
    git = await kube.get(
        f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{namespace}/gitrepositories/src"
    )
    # `revision: "@repo"` takes the source's revision as it is.
    first = await external_artifact(kube, namespace, "one")
    assert first["status"]["artifact"]["revision"] == git["status"]["artifact"]["revision"]
    assert set(await artifact_files(first)) == {"a/x.yaml"}
    # commonMetadata reaches every ExternalArtifact; the generator label stays the UID.
    labels = first["metadata"]["labels"]
    assert labels["env"] == "prod"
    assert labels[GENERATOR_LABEL] == gen["metadata"]["uid"]
    assert first["metadata"]["annotations"]["description"] == "generated"

    # An artifact dropped from the spec: its ExternalArtifact goes.
    path = f"{AG.format(ns=namespace)}/gen"
    await kube.patch(path, {"spec": {"artifacts": [one]}})
    gen = await wait_generator(kube, namespace, "gen")
    assert [e["name"] for e in gen["status"]["inventory"]] == ["one"]
    with pytest.raises(ApiError) as gone:
        await external_artifact(kube, namespace, "two")
    assert gone.value.not_found

    # A copy that would leave the source fails visibly and keeps the last artifact.
    escape = {"name": "one", "copy": [{"from": "@repo/../../etc/passwd", "to": "@artifact/"}]}
    await kube.patch(path, {"spec": {"artifacts": [escape]}})
    failed = await wait_generator(kube, namespace, "gen", "False", "BuildFailed")
    assert "leaves its root" in condition(failed)["message"]
    kept = await external_artifact(kube, namespace, "one")
    assert kept["status"]["artifact"]["digest"] == first["status"]["artifact"]["digest"]

    # Fixed, it is Ready again with the same content (so the same artifact).
    await kube.patch(path, {"spec": {"artifacts": [one]}})
    await wait_generator(kube, namespace, "gen")
    again = await external_artifact(kube, namespace, "one")
    assert again["status"]["artifact"]["digest"] == first["status"]["artifact"]["digest"]

    # Disabled by annotation: a change of spec builds nothing until it is enabled again.
    disabled = {"source.extensions.fluxcd.io/reconcile": "Disabled"}
    await kube.patch(path, {"metadata": {"annotations": disabled}})
    await kube.patch(path, {"spec": {"artifacts": [one, two]}})

    async def said_disabled() -> bool:
        listed = await kube.get(f"/api/v1/namespaces/{namespace}/events")
        return any(
            e["involvedObject"].get("name") == "gen" and e["reason"] == "ReconciliationDisabled"
            for e in listed["items"]
        )

    await until(said_disabled, 30, "the ReconciliationDisabled event")
    with pytest.raises(ApiError):
        await external_artifact(kube, namespace, "two")
    enabled = {"source.extensions.fluxcd.io/reconcile": "Enabled"}
    await kube.patch(path, {"metadata": {"annotations": enabled}})
    await wait_generator(kube, namespace, "gen")
    await external_artifact(kube, namespace, "two")

    # The generator deleted: its ExternalArtifacts go with it.
    await kube.delete(path)

    async def artifact_gone() -> bool:
        try:
            await external_artifact(kube, namespace, "one")
        except ApiError as err:
            return err.not_found
        return False

    await until(artifact_gone, 60, "the generator's ExternalArtifact deleted")
    with pytest.raises(ApiError):
        await external_artifact(kube, namespace, "two")


async def test_a_composed_chart_with_merged_values_is_released_through_chart_ref(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    """Flux's Helm chart composition example: a chart, its values.yaml merged with an
    environment's, released by a HelmRelease whose chartRef is the ExternalArtifact."""
    chart = chart_files("hello", "1.0.0", {"greeting": "hello", "size": "small"})
    files = {f"charts/hello/{rel}": text for rel, text in chart.items()}
    files["environments/prod/values.yaml"] = "greeting: bonjour\n"
    repo = await setup_source(kube, namespace, git_repos, http_git, unique_repo, files, name="src")
    composite = {
        "name": "hello-prod",
        "originRevision": "@repo",
        "copy": [
            {"from": "@repo/charts/hello/", "to": "@artifact/"},
            {
                "from": "@repo/environments/prod/values.yaml",
                "to": "@artifact/hello/values.yaml",
                "strategy": "Merge",
            },
        ],
    }
    await kube.create(AG.format(ns=namespace), generator("charts", [composite]))
    release = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "hello"},
        "spec": {"interval": "1h", "chartRef": {"kind": "ExternalArtifact", "name": "hello-prod"}},
    }
    await kube.create(
        f"/apis/helm.toolkit.fluxcd.io/v2/namespaces/{namespace}/helmreleases", release
    )
    await wait_hr(kube, namespace, "hello")
    assert (await configmap(kube, namespace, "hello"))["data"] == {"greeting": "bonjour"}
    values = yaml.safe_load(
        (await artifact_files(await external_artifact(kube, namespace, "hello-prod")))[
            "hello/values.yaml"
        ]
    )
    assert values == {"greeting": "bonjour", "size": "small"}

    # A new value in Git: a new artifact, and the release upgraded to it at once.
    with git_repos.worktree(repo) as wt:
        wt.write({"environments/prod/values.yaml": "greeting: hola\n"})
        wt.commit("greet in Spanish")
        wt.push()
    await request_git_reconcile(kube, namespace, "src")
    await until(
        lambda: _data_is(kube, namespace, "hello", {"greeting": "hola"}),
        120,
        "the release upgraded with the new values",
    )


async def test_under_lockdown_a_generator_reads_no_other_namespace(
    bare_kube: KubeClient,
    bare_namespace: str,
    engines: Engines,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    """--no-cross-namespace-refs: a tenant's generator cannot read another namespace's
    source, nor a tenant's Kustomization another namespace's ExternalArtifact."""
    kube, home = bare_kube, bare_namespace
    tenant = f"{home}-x"
    await kube.create("/api/v1/namespaces", {"metadata": {"name": tenant}})
    try:
        files = {"secret/cm.yaml": "kind: ConfigMap\n"}
        await setup_source(kube, home, git_repos, http_git, unique_repo, files, name="src")
        await engines.start(Lockdown(no_cross_namespace_refs=True))
        own = {"name": "own", "copy": [{"from": "@repo/secret/", "to": "@artifact/"}]}
        await kube.create(AG.format(ns=home), generator("home", [own]))
        await wait_generator(kube, home, "home")

        stolen = generator("thief", [own])
        stolen["spec"]["sources"][0]["namespace"] = home
        await kube.create(AG.format(ns=tenant), stolen)
        refused = await wait_generator(kube, tenant, "thief", "False", "AccessDenied")
        assert "cross-namespace references have been blocked" in condition(refused)["message"]
        with pytest.raises(ApiError):
            await external_artifact(kube, tenant, "own")

        reader = {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "reader"},
            "spec": {
                "interval": "1h",
                "path": "./",
                "prune": True,
                "sourceRef": {"kind": "ExternalArtifact", "name": "own", "namespace": home},
            },
        }
        await kube.create(KS.format(ns=tenant), reader)
        await wait_ready(kube, tenant, "reader", "False", "AccessDenied")
    finally:
        await namespaces.retire(kube, tenant)


async def test_a_path_pattern_makes_one_artifact_per_directory(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    """Flux's directory discovery example: `apps/{app}/envs/{env}` of a monorepo."""
    files = {
        "apps/Auth/envs/prod/deploy.yaml": "auth: prod\n",
        "apps/Auth/envs/dev/deploy.yaml": "auth: dev\n",
        "apps/web/envs/prod/deploy.yaml": "web: prod\n",
        "apps/web/README.md": "not an environment\n",
    }
    repo = await setup_source(kube, namespace, git_repos, http_git, unique_repo, files, name="src")
    template = {
        "name": "{app}-{env}",
        "copy": [{"from": "@repo/apps/{app}/envs/{env}/**", "to": "@artifact/"}],
    }
    await kube.create(
        AG.format(ns=namespace),
        generator("monorepo", [template], pathPattern="@repo/apps/{app}/envs/{env}"),
    )
    gen = await wait_generator(kube, namespace, "monorepo")
    names = [e["name"] for e in gen["status"]["inventory"]]
    assert names == ["auth-dev", "auth-prod", "web-prod"]
    auth = await external_artifact(kube, namespace, "auth-prod")
    assert auth["metadata"]["labels"]["app"] == "auth"
    assert auth["metadata"]["labels"]["env"] == "prod"
    assert await artifact_files(auth) == {"deploy.yaml": b"auth: prod\n"}

    # A directory gone from Git: its artifact goes; a new one: a new artifact.
    with git_repos.worktree(repo) as wt:
        wt.delete("apps/Auth/envs/dev")
        wt.write({"apps/web/envs/dev/deploy.yaml": "web: dev\n"})
        wt.commit("move dev")
        wt.push()
    await request_git_reconcile(kube, namespace, "src")

    async def moved() -> list[str] | None:
        obj = await kube.get(f"{AG.format(ns=namespace)}/monorepo")
        found = [e["name"] for e in (obj.get("status") or {}).get("inventory") or []]
        return found if found == ["auth-prod", "web-dev", "web-prod"] else None

    await until(moved, 60, "the inventory to follow the directories")
    with pytest.raises(ApiError) as gone:
        await external_artifact(kube, namespace, "auth-dev")
    assert gone.value.not_found
    assert await artifact_files(await external_artifact(kube, namespace, "web-dev")) == {
        "deploy.yaml": b"web: dev\n"
    }


async def test_a_git_repository_and_a_bucket_are_composed_into_one_artifact(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    s3_server: S3Server,
) -> None:
    """Flux's source composition example: deploy manifests from Git, the environment's
    ConfigMap from a Bucket; a new object in the bucket makes a new artifact."""
    files = {"deploy/app.yaml": "app: backend\n", "deploy/sub/svc.yaml": "svc: backend\n"}
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files, name="src")
    bucket = f"{namespace}-configs"
    await new_bucket(s3_server, bucket, {"envs/prod/configmap.yaml": b"env: prod\n"})
    await keys_secret(kube, namespace, s3_server, s3_server.secret_key)
    await create_bucket(kube, namespace, bucket, s3_server)
    composite = {
        "name": "my-app-composite",
        "copy": [
            {"from": "@repo/deploy/**", "to": "@artifact/my-app/backend/"},
            {"from": "@config/envs/prod/configmap.yaml", "to": "@artifact/my-app/env.yaml"},
        ],
    }
    sources = [
        {"alias": "repo", "kind": "GitRepository", "name": "src"},
        {"alias": "config", "kind": "Bucket", "name": bucket},
    ]
    await kube.create(AG.format(ns=namespace), generator("my-app", [composite], sources=sources))
    await wait_generator(kube, namespace, "my-app")
    first = await external_artifact(kube, namespace, "my-app-composite")
    assert await artifact_files(first) == {
        "my-app/backend/app.yaml": b"app: backend\n",
        "my-app/backend/sub/svc.yaml": b"svc: backend\n",
        "my-app/env.yaml": b"env: prod\n",
    }

    await s3_server.client(bucket).put("envs/prod/configmap.yaml", b"env: production\n")
    await request_bucket_reconcile(kube, namespace, bucket)

    async def recomposed() -> dict[str, Any] | None:
        ea = await external_artifact(kube, namespace, "my-app-composite")
        moved = ea["status"]["artifact"]["digest"] != first["status"]["artifact"]["digest"]
        return ea if moved else None

    second = await until(recomposed, 60, "a new artifact from the bucket's new object")
    assert (await artifact_files(second))["my-app/env.yaml"] == b"env: production\n"

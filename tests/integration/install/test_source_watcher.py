"""Flux 2.7's layout with `--components-extra=source-watcher`, as host processes with
the exported flags: source-controller fetches the GitRepository, source-watcher (a
process of its own, with its own store and ServiceAccount) composes it into an
ExternalArtifact it serves, and kustomize-controller applies that. The audit log says
which process wrote the ExternalArtifact: source-watcher's, not the sources'.

On `bare_cluster`, where no other engine acts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import yaml
from typer.testing import CliRunner

from kidp_gitops.cli.main import app
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration import audit
from tests.integration.install.processes import (
    NS,
    delete_while_running,
    denied,
    free_port,
    running,
)
from tests.integration.kustomize.helpers import (
    KS,
    configmap,
    exists,
    kustomization,
    setup_source,
    wait_ready,
)
from tests.integration.source.generators import AG, external_artifact, generator
from tests.integration.wait import until
from tests.unit.install import patched


async def test_the_generator_runs_in_source_watcher(
    bare_cluster: DevCluster,
    bare_kube: KubeClient,
    bare_namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    kube, ns = bare_kube, bare_namespace
    build = tmp_path / "build"
    build.mkdir()
    deployments = patched.deployments(build, patched.PLAIN, "--components-extra=source-watcher")
    # source-watcher's ServiceAccount and role (bare_cluster has the default components').
    installed = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        [
            "install", "--without-controllers", "--components-extra=source-watcher",
            f"--kubeconfig={bare_cluster.kubeconfig}",
        ],
    )  # fmt: skip
    assert installed.exit_code == 0, installed.output

    def args(name: str) -> list[str]:
        return list(deployments[name]["spec"]["template"]["spec"]["containers"][0]["args"])

    await setup_source(
        kube, ns, git_repos, http_git, unique_repo,
        {"apps/cm.yaml": yaml.safe_dump(configmap("watched", ns))}, name="src",
    )  # fmt: skip
    bundle = {"name": "bundle", "copy": [{"from": "@repo/apps/", "to": "@artifact/"}]}
    await kube.create(AG.format(ns=ns), generator("gen", [bundle]))
    ks = kustomization("apps", "apps", sourceRef={"kind": "ExternalArtifact", "name": "bundle"})
    await kube.create(KS.format(ns=ns), ks)
    sources, watched = free_port(), free_port()
    async with (
        running(
            kube, bare_cluster, tmp_path, "source-controller", *args("source-controller"),
            f"--artifact-addr=127.0.0.1:{sources}", f"--artifact-url=http://127.0.0.1:{sources}",
        ) as source,
        running(
            kube, bare_cluster, tmp_path, "source-watcher", *args("source-watcher"),
            f"--artifact-addr=127.0.0.1:{watched}", f"--artifact-url=http://127.0.0.1:{watched}",
        ) as watcher,
        running(
            kube, bare_cluster, tmp_path, "kustomize-controller", *args("kustomize-controller"),
        ) as applier,
    ):  # fmt: skip
        await wait_ready(kube, ns, "apps", timeout=120)
        assert await exists(kube, f"/api/v1/namespaces/{ns}/configmaps/watched")
        artifact = (await external_artifact(kube, ns, "bundle"))["status"]["artifact"]
        # Served by source-watcher's own store, read from the sources' over HTTP.
        assert artifact["url"].startswith(f"http://127.0.0.1:{watched}/")
        stores = {
            p: tmp_path / p / "data" / "artifacts" for p in ("source-controller", "source-watcher")
        }
        assert (stores["source-watcher"] / artifact["path"]).is_file()
        assert not (stores["source-controller"] / artifact["path"]).exists()

        leases = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"

        async def leading() -> bool:
            held = {lease["metadata"]["name"] for lease in (await kube.get(leases))["items"]}
            return "source-watcher-leader-election" in held

        await until(leading, 60, "source-watcher's lease")
        written = await audit.writes(bare_cluster, ns)
        await delete_while_running(kube, ns)

    external = [w for w in written if w.resource == "externalartifacts.source.toolkit.fluxcd.io"]
    assert external
    assert all(watcher.sent(w.user_agent) for w in external), external
    generators = [w for w in written if w.resource.startswith("artifactgenerators.")]
    controllers = [w for w in generators if w.user.startswith("system:serviceaccount:")]
    assert controllers
    assert all(watcher.sent(w.user_agent) for w in controllers), controllers
    for process in (source, watcher, applier):
        assert denied(process.log) == [], f"{process.log}: {denied(process.log)}"

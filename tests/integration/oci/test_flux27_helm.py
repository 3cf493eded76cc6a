"""Issue 17's acceptance, whole: a repository in Flux 2.7's layout — a GitRepository split
by an ArtifactGenerator into ExternalArtifacts applied by a dependsOn chain of
Kustomizations — that also releases charts with `RetryOnFailure`, one from an HTTP
HelmRepository and one from an OCIRepository, reconciles to Ready as written (the release
manifests follow Flux's documentation of HelmRelease, HelmRepository and OCIRepository)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import wait_hr
from tests.integration.image.registry import Registry
from tests.integration.kustomize.helpers import wait_ready
from tests.integration.oci.test_helm_oci import publish
from tests.integration.source.helmrepos import serve
from tests.integration.source.test_artifactgenerator import bootstrap, configmap, flux27_layout

pytestmark = pytest.mark.usefixtures("engine")

RELEASES = """
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: podinfo-http
spec:
  interval: 1h
  url: {http_url}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: hello-oci
spec:
  interval: 1h
  url: {oci_url}
  insecure: true
  ref:
    semver: ">=1.0.0"
  layerSelector:
    mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip
    operation: copy
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
spec:
  interval: 1h
  chart:
    spec:
      chart: web
      version: "1.x"
      sourceRef:
        kind: HelmRepository
        name: podinfo-http
  install:
    strategy:
      name: RetryOnFailure
      retryInterval: 1m
  upgrade:
    strategy:
      name: RetryOnFailure
      retryInterval: 1m
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: hello
spec:
  interval: 1h
  chartRef:
    kind: OCIRepository
    name: hello-oci
  install:
    strategy:
      name: RetryOnFailure
      retryInterval: 1m
  upgrade:
    strategy:
      name: RetryOnFailure
      retryInterval: 1m
"""


async def test_the_flux_27_layout_with_helm_releases_that_retry_reconciles(
    kube: KubeClient,
    namespace: str,
    registry: Registry,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    oci = f"oci://{registry.host}/{namespace}/charts"
    publish(tmp_path / "oci", oci, "1.0.0", "from a registry")
    async for charts in serve(tmp_path / "http"):
        charts.publish("web", "1.0.0", {"greeting": "from an HTTP repository"})
        files = flux27_layout()
        files["clusters/production/releases.yaml"] = textwrap.dedent(RELEASES).format(
            http_url=charts.url, oci_url=f"{oci}/hello"
        )
        await bootstrap(kube, namespace, git_repos, http_git, unique_repo, files)
        await wait_ready(kube, namespace, "flux-system", timeout=90)
        await wait_ready(kube, namespace, "infrastructure", timeout=90)
        await wait_ready(kube, namespace, "apps", timeout=90)
        for name in ("web", "hello"):
            await wait_hr(kube, namespace, name, timeout=180)
        web = await configmap(kube, namespace, "web")
        hello = await configmap(kube, namespace, "hello")
        assert web["data"] == {"greeting": "from an HTTP repository"}
        assert hello["data"] == {"greeting": "from a registry"}
        assert (await configmap(kube, namespace, "app-settings"))["data"] == {
            "replicas": "3",
            "color": "blue",
        }

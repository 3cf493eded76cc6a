"""Helm charts in an OCI registry (`helm push`), for HelmCharts whose source is a
HelmRepository of `type: oci`.

    chart = await pull(client, namespace, repo_spec, "podinfo", ">=6.0.0", workdir)

The chart lives at `<url>/<chart>`; its tags are its versions (Helm writes a `+` of build
metadata as `_`, since tags cannot hold it). The highest version in the range is taken
(an exact version is asked for directly); the manifest's layer of Helm's chart media type
is the packaged chart. Credentials come from the repository's `secretRef` (a
`.dockerconfigjson`, or `username` and `password`) and `certSecretRef`, as Flux reads them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from kidp_gitops.api import source as api
from kidp_gitops.kube.client import KubeClient
from kidp_gitops.oci import client, errors, reference
from kidp_gitops.runtime import conditions, registryauth, secrets
from kidp_gitops.runtime.reconcile import ReconcileError, StalledError
from kidp_gitops.source import helmhttp, helmpackage
from kidp_gitops.vcs import giterrors, semver

CHART_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


@dataclass(frozen=True)
class Pulled:
    version: str
    data: bytes


async def connect(
    kube: KubeClient, namespace: str, spec: api.HelmRepositorySpec, chart: str
) -> client.Client:
    """A client of the chart's repository, with the HelmRepository's credentials."""
    check_url(spec)
    try:
        repository = reference.parse_repository(f"{spec.url.rstrip('/')}/{chart}")
    except errors.OCIError as err:
        raise StalledError(helmpackage.INVALID_CHART_REFERENCE, err.message) from err
    repo_auth = await helmhttp.load_auth(kube, namespace, spec)
    creds: registryauth.Credentials | None = None
    if repo_auth.basic is not None:
        creds = registryauth.Credentials(repo_auth.basic.username, repo_auth.basic.password)
    elif spec.secret_ref is not None:
        creds = await _dockerconfig(kube, namespace, spec.secret_ref.name, repository.host)
    return client.Client(
        repository,
        creds,
        insecure=spec.insecure,
        tls=repo_auth.tls,
        timeout=spec.effective_timeout().seconds,
    )


async def _dockerconfig(
    kube: KubeClient, namespace: str, name: str, host: str
) -> registryauth.Credentials | None:
    where = f"{namespace}/{name}"
    data = await secrets.data(kube, namespace, name, f"secret '{where}' not found")
    if ".dockerconfigjson" not in data and ".dockercfg" not in data:
        return None  # neither basic credentials nor a pull secret: anonymous
    try:
        return registryauth.from_pull_secret(data, host, where)
    except registryauth.AuthError as err:
        raise ReconcileError(conditions.AUTHENTICATION_FAILED, str(err)) from err


async def version(registry: client.Client, wanted: str) -> str:
    """The chart version (a tag, `_` read as `+`) the range or version names."""
    exact = semver.parse_version(wanted)
    if exact is not None and wanted.strip().lstrip("v=") == str(exact):
        return wanted.strip()
    try:
        versions_range = semver.parse_range(wanted)
    except giterrors.InvalidRef as err:
        raise StalledError(
            helmpackage.INVALID_CHART_REFERENCE, f"invalid version range '{wanted}': {err}"
        ) from err
    try:
        tags = await registry.tags()
    except errors.OCIError as err:
        raise ReconcileError(helmpackage.CHART_PULL_ERROR, err.message) from err
    found = {
        tag.replace("_", "+"): parsed
        for tag in tags
        if (parsed := semver.parse_version(tag.replace("_", "+"))) is not None
    }
    best = versions_range.best(found)
    if best is None:
        raise ReconcileError(
            helmpackage.INVALID_CHART_REFERENCE,
            f"invalid chart reference: no version of {registry.repository.canonical}"
            f" matches '{wanted}'",
        )
    return best


async def pull(registry: client.Client, chart_version: str, workdir: Path) -> Pulled:
    """The packaged chart of `chart_version`, at most MAX_CHART_SIZE bytes, digest checked."""
    what = f"chart {registry.repository.canonical}:{chart_version}"
    try:
        manifest = await registry.manifest(chart_version.replace("+", "_"))
        layers = [x for x in manifest.body.get("layers") or [] if isinstance(x, dict)]
        layer = next((x for x in layers if x.get("mediaType") == CHART_MEDIA_TYPE), None)
        if layer is None:
            raise errors.OCIError(f"{what} has no layer of type {CHART_MEDIA_TYPE}")
        blob = workdir / "chart.tgz"
        await registry.blob_to_file(str(layer.get("digest")), blob, helmhttp.MAX_CHART_SIZE)
        data = await asyncio.to_thread(blob.read_bytes)
    except errors.AuthError as err:
        raise ReconcileError(
            conditions.AUTHENTICATION_FAILED, f"failed to pull {what}: {err.message}"
        ) from err
    except errors.OCIError as err:
        raise ReconcileError(
            helmpackage.CHART_PULL_ERROR, f"failed to pull {what}: {err.message}"
        ) from err
    return Pulled(chart_version, data)


def check_url(spec: api.HelmRepositorySpec) -> None:
    """An OCI HelmRepository's URL names a registry host and a path."""
    try:
        reference.parse_repository(spec.url)
    except errors.OCIError as err:
        raise StalledError("URLInvalid", err.message) from err

"""The chart of a release: the HelmChart made from `spec.chart`, and its artifact.

As in Flux, the Helm controller does not fetch charts itself. It keeps a HelmChart named
`<release namespace>-<release name>` in the namespace of the chart's source, from the
template in `spec.chart` (server-side apply, our field manager), and waits until the
source controller has published that chart as an artifact. `spec.chartRef` to a
HelmChart, to an OCIRepository (a chart pushed with `helm push`, or any artifact that
holds one chart) or to an ExternalArtifact (an ArtifactGenerator's), uses that object's
artifact as is.

    desired(release, template) -> JSON                 the HelmChart to apply
    await ensure(manager, resource, release) -> Chart   applied, ready, with an artifact
    ChartNotReady                                       not there yet (waiting)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kidp_gitops.api import helm as api
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.kube.ssa import Policy, ResourceManager
from kidp_gitops.runtime import conditions

API_VERSION = "source.toolkit.fluxcd.io/v1"
KIND = "HelmChart"
OCI_REPOSITORY = "OCIRepository"
EXTERNAL_ARTIFACT = "ExternalArtifact"
FIELD_MANAGER = "helm-controller"
POLICY = Policy(field_manager=FIELD_MANAGER)
NAME_LABEL = "helm.toolkit.fluxcd.io/name"
NAMESPACE_LABEL = "helm.toolkit.fluxcd.io/namespace"
SHARD_LABEL = "sharding.fluxcd.io/key"


class ChartNotReady(Exception):
    """The HelmChart has no usable artifact yet; the message says what it waits for."""


@dataclass(frozen=True)
class Chart:
    namespace: str
    name: str
    artifact: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def revision(self) -> str:
        return str(self.artifact.get("revision", ""))

    @property
    def digest(self) -> str:
        return str(self.artifact.get("digest", ""))


def location(release: api.HelmRelease) -> tuple[str, str]:
    """(namespace, name) of the HelmChart the release reads."""
    spec = release.spec
    if spec.chart is not None:
        ref = spec.chart.spec.source_ref
        return ref.namespace or release.namespace, release.helm_chart_name()
    assert spec.chart_ref is not None  # the model requires one of the two
    return spec.chart_ref.namespace or release.namespace, spec.chart_ref.name


def desired(release: api.HelmRelease) -> JSON:
    """The HelmChart for a release with a `spec.chart` template."""
    template = release.spec.chart
    assert template is not None
    t = template.spec
    namespace, name = location(release)
    source_ref: dict[str, Any] = {"kind": t.source_ref.kind, "name": t.source_ref.name}
    if t.source_ref.api_version:
        source_ref["apiVersion"] = t.source_ref.api_version
    spec: dict[str, Any] = {
        "chart": t.chart,
        "version": t.version,
        "sourceRef": source_ref,
        "interval": str(release.spec.chart_interval()),
        "reconcileStrategy": t.reconcile_strategy,
    }
    files = ([t.values_file] if t.values_file else []) + t.values_files
    if files:
        spec["valuesFiles"] = files
        spec["ignoreMissingValuesFiles"] = t.ignore_missing_values_files
    if t.verify is not None:
        spec["verify"] = t.verify.model_dump(by_alias=True, exclude_none=True)
    meta = template.metadata
    # The release's shard goes with its chart, so the same shard's source controller
    # packages it (as Flux's helm-controller propagates the key).
    shard = release.metadata.labels.get(SHARD_LABEL)
    labels = {
        **(meta.labels if meta else {}),
        **({SHARD_LABEL: shard} if shard else {}),
        NAME_LABEL: release.name,
        NAMESPACE_LABEL: release.namespace,
    }
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if meta and meta.annotations:
        metadata["annotations"] = dict(meta.annotations)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


async def ensure(manager: ResourceManager, resource: Resource, release: api.HelmRelease) -> Chart:
    """Apply the release's HelmChart (for `spec.chart`) and return its artifact;
    `resource` is the kind the release reads (HelmChart, or the chartRef's kind)."""
    namespace, name = location(release)
    path = resource.path(namespace, name)
    if release.spec.chart is not None:
        obj = await manager.put(desired(release), path)
    else:
        try:
            obj = await manager.client.get(path)
        except ApiError as err:
            if not err.not_found:
                raise
            kind = release.spec.chart_ref.kind if release.spec.chart_ref else KIND
            raise ChartNotReady(f"{kind} '{namespace}/{name}' not found") from err
    return ready_chart(obj)


def ready_chart(obj: JSON) -> Chart:
    """The chart's artifact, if the HelmChart (or OCIRepository) is ready for its current
    spec."""
    meta = obj["metadata"]
    kind = str(obj.get("kind") or KIND)
    namespace, name = meta["namespace"], meta["name"]
    status = obj.get("status") or {}
    artifact = status.get("artifact")
    ready = conditions.get(status, conditions.READY)
    observed = status.get("observedGeneration")
    if observed in (None, -1) and kind == EXTERNAL_ARTIFACT and ready is not None:
        # Flux's ExternalArtifact status has no observedGeneration (another controller
        # writes it, kidp's generator or not): its Ready condition's says as much.
        observed = ready.get("observedGeneration")
    current = observed == meta.get("generation")
    if not artifact or not current or ready is None or ready["status"] != "True":
        why = ready["message"] if ready is not None and ready["message"] else "no artifact yet"
        if ready is not None and ready["status"] == "True" and not current:
            why = "the source controller has not seen its latest spec yet"
        raise ChartNotReady(f"{kind} '{namespace}/{name}' is not ready: {why}")
    return Chart(namespace, name, dict(artifact))


async def delete(client: KubeClient, resource: Resource, namespace: str, name: str) -> None:
    """Delete a HelmChart this controller made (gone already is fine)."""
    try:
        await client.delete(resource.path(namespace, name))
    except ApiError as err:
        if not err.not_found:
            raise

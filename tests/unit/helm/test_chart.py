"""When a chartRef's object is ready to release from: a HelmChart or OCIRepository by
its status.observedGeneration, an ExternalArtifact written by another controller (whose
status, as Flux defines it, has none) by its Ready condition's."""

from __future__ import annotations

from typing import Any

import pytest

from kidp_gitops.helm import chart

ARTIFACT = {"path": "x/y.tar.gz", "url": "http://s/x/y.tar.gz", "revision": "latest@sha256:1"}


def obj(kind: str, status: dict[str, Any], generation: int = 2) -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {"namespace": "apps", "name": "app", "generation": generation},
        "status": status,
    }


def ready(generation: int) -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": "True",
        "reason": "Succeeded",
        "message": "ok",
        "observedGeneration": generation,
    }


def test_an_external_artifact_without_observed_generation_is_read_by_its_condition() -> None:
    found = chart.ready_chart(
        obj("ExternalArtifact", {"artifact": ARTIFACT, "conditions": [ready(2)]})
    )
    assert found.revision == "latest@sha256:1"
    # The CRD's default (-1) counts as absent too.
    status = {"observedGeneration": -1, "artifact": ARTIFACT, "conditions": [ready(2)]}
    assert chart.ready_chart(obj("ExternalArtifact", status)).ref == "apps/app"
    with pytest.raises(chart.ChartNotReady, match="has not seen its latest spec"):
        chart.ready_chart(obj("ExternalArtifact", {"artifact": ARTIFACT, "conditions": [ready(1)]}))


def test_a_helm_chart_needs_its_status_observed_generation() -> None:
    with pytest.raises(chart.ChartNotReady):
        chart.ready_chart(obj("HelmChart", {"artifact": ARTIFACT, "conditions": [ready(2)]}))
    status = {"observedGeneration": 2, "artifact": ARTIFACT, "conditions": [ready(2)]}
    assert chart.ready_chart(obj("HelmChart", status)).digest == ""

"""Which Alerts take which events, and the rate limiter."""

from __future__ import annotations

from typing import Any

import pytest

from kidp_gitops.api import notification as api
from kidp_gitops.notification import matching
from kidp_gitops.notification.event import FluxEvent, ObjectRef, from_kube_event


def event(
    kind: str = "Kustomization",
    name: str = "apps",
    namespace: str = "flux-system",
    severity: str = "info",
    message: str = "Deployment/default/web configured",
    revision: str | None = "main@sha1:abc",
) -> FluxEvent:
    return FluxEvent(
        ObjectRef(kind, namespace, name),
        "error" if severity == "error" else "info",
        "Progressing",
        message,
        "2026-01-01T00:00:00Z",
        {"revision": revision} if revision else {},
    )


def spec(**fields: Any) -> api.AlertSpec:
    body: dict[str, Any] = {
        "providerRef": {"name": "slack"},
        "eventSources": [
            {"kind": "GitRepository", "name": "*"},
            {"kind": "Kustomization", "name": "*"},
        ],
    }
    body.update(fields)
    return api.AlertSpec.model_validate(body)


def takes(s: api.AlertSpec, e: FluxEvent, labels: dict[str, str] | None = None) -> bool:
    return matching.alert_takes(s, "flux-system", e, labels or {})


def test_the_prd_alert_takes_every_git_and_kustomization_event_of_its_namespace() -> None:
    s = spec(eventSeverity="info")
    assert takes(s, event())
    assert takes(s, event(kind="GitRepository", severity="error"))
    assert not takes(s, event(kind="HelmRelease"))
    assert not takes(s, event(namespace="other"))


def test_severity_error_takes_only_errors() -> None:
    s = spec(eventSeverity="error")
    assert not takes(s, event(severity="info"))
    assert takes(s, event(severity="error"))


def test_names_namespaces_and_labels() -> None:
    s = spec(
        eventSources=[
            {"kind": "Kustomization", "name": "apps-*", "namespace": "*"},
            {"kind": "GitRepository", "name": "*", "matchLabels": {"team": "web"}},
        ]
    )
    assert takes(s, event(name="apps-prod", namespace="elsewhere"))
    assert not takes(s, event(name="infra"))
    git = event(kind="GitRepository")
    assert takes(s, git, {"team": "web", "x": "y"})
    assert not takes(s, git, {"team": "db"})
    assert not takes(s, git, {})


def test_match_labels_hold_for_a_named_source_too() -> None:
    # As Flux: the labels are checked whatever the name.
    s = spec(eventSources=[{"kind": "Kustomization", "name": "apps", "matchLabels": {"tier": "a"}}])
    assert takes(s, event(name="apps"), {"tier": "a"})
    assert not takes(s, event(name="apps"), {"tier": "b"})


def test_inclusion_and_exclusion_lists() -> None:
    s = spec(inclusionList=[".*configured.*"], exclusionList=["^Deployment/default/skip"])
    assert takes(s, event())
    assert not takes(s, event(message="Deployment/default/skip configured"))
    assert not takes(s, event(message="Service/default/web created"))
    with pytest.raises(matching.InvalidPattern, match="exclusionList"):
        takes(spec(exclusionList=["(unclosed"]), event())


def test_suspended_alerts_take_nothing() -> None:
    assert not takes(spec(suspend=True), event())


def test_summary_and_event_metadata_are_added_without_overriding() -> None:
    s = spec(summary="prod cluster", eventMetadata={"env": "prod", "revision": "theirs"})
    decorated = matching.decorate(s, event())
    assert decorated.metadata == {
        "summary": "prod cluster",
        "env": "prod",
        "revision": "main@sha1:abc",
    }


def test_the_deprecated_summary_wins_over_event_metadata_as_in_flux() -> None:
    s = spec(summary="from summary", eventMetadata={"summary": "from metadata"})
    assert matching.decorate(s, event()).metadata["summary"] == "from summary"


def test_identical_events_are_sent_once_per_interval() -> None:
    now = [0.0]
    limiter = matching.RateLimiter(300, clock=lambda: now[0])
    assert limiter.allow(event())
    assert not limiter.allow(event())
    assert limiter.allow(event(revision="main@sha1:def"))  # a new revision is news
    assert limiter.allow(event(message="other"))
    now[0] = 301
    assert limiter.allow(event())


def test_kube_events_become_flux_events() -> None:
    kube_event = {
        "metadata": {
            "namespace": "flux-system",
            "annotations": {
                "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc",
                "other.example.com/x": "y",
            },
        },
        "involvedObject": {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "name": "apps",
            "namespace": "flux-system",
        },
        "type": "Warning",
        "reason": "BuildFailed",
        "message": "kustomize build failed",
        "lastTimestamp": "2026-01-01T00:00:00Z",
    }
    e = from_kube_event(kube_event)
    assert e is not None
    assert e.severity == "error"
    assert e.metadata == {"revision": "main@sha1:abc"}
    assert e.reporting_controller == "kustomize-controller"
    assert str(e.involved_object) == "kustomization/apps.flux-system"
    pod = {**kube_event, "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "p"}}
    assert from_kube_event(pod) is None


def test_an_artifact_generators_events_are_flux_events() -> None:
    """source-watcher's group is not a toolkit group, and its events reach alerts too."""
    kube_event = {
        "metadata": {"namespace": "apps"},
        "involvedObject": {
            "apiVersion": "source.extensions.fluxcd.io/v1beta1",
            "kind": "ArtifactGenerator",
            "name": "monorepo",
            "namespace": "apps",
        },
        "type": "Warning",
        "reason": "BuildFailed",
        "message": "app build failed",
    }
    e = from_kube_event(kube_event)
    assert e is not None
    assert e.reporting_controller == "source-watcher"
    assert str(e.involved_object) == "artifactgenerator/monorepo.apps"

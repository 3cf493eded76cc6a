"""The lockdown (--no-cross-namespace-refs) in the notification controller's pure logic:
which events an Alert takes, and which event sources and Receiver resources it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from kidp_gitops.api import notification as api
from kidp_gitops.notification import alert, matching, receiver
from kidp_gitops.notification.event import FluxEvent, ObjectRef
from kidp_gitops.runtime.tenancy import ACCESS_DENIED, AccessDenied, Lockdown

LOCKED = Lockdown(no_cross_namespace_refs=True)


def event(namespace: str, kind: str = "GitRepository", name: str = "repo") -> FluxEvent:
    return FluxEvent(ObjectRef(kind, namespace, name), "info", "NewArtifact", "stored", "", {})


def alert_spec(*sources: dict[str, Any]) -> api.AlertSpec:
    return api.AlertSpec.model_validate(
        {"providerRef": {"name": "hook"}, "eventSources": list(sources)}
    )


def receiver_spec(*resources: dict[str, Any]) -> api.ReceiverSpec:
    return api.ReceiverSpec.model_validate(
        {"type": "generic", "secretRef": {"name": "token"}, "resources": list(resources)}
    )


@pytest.mark.parametrize("namespace", ["other", "*"])
def test_under_lockdown_an_alert_takes_only_events_of_its_own_namespace(namespace: str) -> None:
    spec = alert_spec(
        {"kind": "GitRepository", "name": "*", "namespace": namespace},
        {"kind": "GitRepository", "name": "*"},
    )
    own, other = event("team"), event("other")
    # Without the lockdown the source reaches the other namespace…
    assert matching.alert_takes(spec, "team", other, {})
    # …under it, never; the Alert's own namespace still works.
    assert not matching.alert_takes(spec, "team", other, {}, own_namespace_only=True)
    assert matching.alert_takes(spec, "team", own, {}, own_namespace_only=True)


def test_event_sources_in_another_or_any_namespace_are_refused() -> None:
    local = alert_spec({"kind": "GitRepository", "name": "*"})
    named = alert_spec({"kind": "GitRepository", "name": "repo", "namespace": "team"})
    alert.check_sources(LOCKED, "team", local)
    alert.check_sources(LOCKED, "team", named)  # its own namespace, spelled out
    for namespace in ("other", "*"):
        spec = alert_spec(
            {"kind": "GitRepository", "name": "*"},
            {"kind": "Kustomization", "name": "apps", "namespace": namespace},
        )
        alert.check_sources(Lockdown(), "team", spec)  # no lockdown: allowed
        with pytest.raises(AccessDenied) as refused:
            alert.check_sources(LOCKED, "team", spec)
        assert refused.value.reason == ACCESS_DENIED
        assert refused.value.message == (
            f"can't access 'Kustomization/{namespace}/apps', "
            "cross-namespace references have been blocked"
        )


def test_receiver_resources_in_another_namespace_are_refused() -> None:
    spec = receiver_spec(
        {"kind": "GitRepository", "name": "repo"},
        {"kind": "GitRepository", "name": "repo", "namespace": "team"},
        {"kind": "Kustomization", "name": "*", "namespace": "other", "matchLabels": {"a": "b"}},
    )
    own, spelled_out, other = spec.resources
    for ref in spec.resources:
        receiver.check_resource(Lockdown(), "team", ref)
    receiver.check_resource(LOCKED, "team", own)
    receiver.check_resource(LOCKED, "team", spelled_out)
    with pytest.raises(AccessDenied, match="'Kustomization/other/\\*'"):
        receiver.check_resource(LOCKED, "team", other)

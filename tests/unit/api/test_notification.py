from __future__ import annotations

import pytest
from pydantic import ValidationError

from kidp_gitops.api import notification


def test_provider_defaults_and_types() -> None:
    spec = notification.ProviderSpec.model_validate(
        {"type": "slack", "channel": "ops", "secretRef": {"name": "hook"}}
    )
    assert spec.effective_timeout() == "15s"
    for type_ in ("generic-hmac", "github", "gitlab", "bitbucket", "msteams", "alertmanager"):
        assert notification.ProviderSpec.model_validate({"type": type_}).type == type_
    with pytest.raises(ValidationError, match="type"):
        notification.ProviderSpec.model_validate({"type": "email"})
    with pytest.raises(ValidationError, match="timeout"):
        notification.ProviderSpec.model_validate({"type": "slack", "timeout": "1h"})


def test_commit_status_expr_only_for_git_providers() -> None:
    """As Flux's CRD rule: a commit status name means nothing to a chat provider."""
    expr = "event.involvedObject.name"
    spec = notification.ProviderSpec.model_validate({"type": "github", "commitStatusExpr": expr})
    assert spec.commit_status_expr == expr
    with pytest.raises(ValidationError, match="only supported for the 'github'"):
        notification.ProviderSpec.model_validate({"type": "slack", "commitStatusExpr": expr})
    rule = notification.ProviderSpec.model_json_schema()["x-kubernetes-validations"][0]["rule"]
    assert rule.endswith("self.type == 'azuredevops' || !has(self.commitStatusExpr)")


def test_alert_defaults() -> None:
    spec = notification.AlertSpec.model_validate(
        {"providerRef": {"name": "slack"}, "eventSources": [{"kind": "Kustomization", "name": "*"}]}
    )
    assert spec.event_severity == "info"
    assert spec.event_sources[0].namespace is None
    with pytest.raises(ValidationError, match="eventSeverity"):
        notification.AlertSpec.model_validate(
            {"providerRef": {"name": "s"}, "eventSources": [], "eventSeverity": "warning"}
        )
    with pytest.raises(ValidationError, match="eventSources"):
        notification.AlertSpec.model_validate({"providerRef": {"name": "s"}})


def test_alert_v1beta3_fields() -> None:
    spec = notification.AlertSpec.model_validate(
        {
            "providerRef": {"name": "s"},
            "eventSources": [
                {"kind": "HelmRelease", "name": "*", "namespace": "*", "matchLabels": {"team": "a"}}
            ],
            "inclusionList": [".*succeeded.*"],
            "exclusionList": [".*no changes.*"],
            "eventMetadata": {"cluster": "prod"},
            "summary": "prod cluster",
        }
    )
    assert spec.event_metadata == {"cluster": "prod"}


def test_receiver() -> None:
    spec = notification.ReceiverSpec.model_validate(
        {
            "type": "github",
            "events": ["ping", "push"],
            "secretRef": {"name": "webhook-token"},
            "resources": [{"kind": "GitRepository", "name": "kidp-infrastructure"}],
        }
    )
    assert spec.interval == "10m"
    for type_ in ("generic", "generic-hmac", "gitlab", "bitbucket", "harbor", "dockerhub", "quay"):
        notification.ReceiverSpec.model_validate(
            {"type": type_, "secretRef": {"name": "t"}, "resources": []}
        )
    with pytest.raises(ValidationError, match="secretRef"):
        notification.ReceiverSpec.model_validate({"type": "github", "resources": []})
    status = notification.ReceiverStatus.model_validate({"webhookPath": "/hook/abc"})
    assert status.webhook_path == "/hook/abc"

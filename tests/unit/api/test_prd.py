"""Every YAML block of the PRD that uses one of our kinds applies as written: it parses
into its model and fits the generated CRD schema of its version."""

from __future__ import annotations

from typing import Any

import pytest

from kidp_gitops.api import crds, helm, image, kinds, kustomize, notification, source
from tests.unit.api import openapi_check, prd

DOCUMENTS = prd.documents()
OURS = [d for d in DOCUMENTS if d.role != "foreign"]
OBJECTS = [d for d in DOCUMENTS if d.role == "object"]
FRAGMENTS = [d for d in DOCUMENTS if d.role == "fragment"]

needs_prd = pytest.mark.skipif(prd.prd_path() is None, reason="the PRD is not in this checkout")


def _by_name(name: str) -> dict[str, Any]:
    for document in OBJECTS:
        if document.data["metadata"]["name"] == name and document.data.get("spec") is not None:
            data: dict[str, Any] = document.data
            return data
    raise AssertionError(f"the PRD has no object {name!r} with a spec")


def _schema(model: type[kinds.AnyObject], api_version: str) -> dict[str, Any]:
    version = api_version.partition("/")[2]
    for served in crds.crd(model)["spec"]["versions"]:
        if served["name"] == version:
            schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]
            return schema
    raise AssertionError(f"{model.RESOURCE.kind} has no version {version}")


@needs_prd
def test_every_prd_block_is_classified() -> None:
    unclassified = [d.id for d in DOCUMENTS if "unclassified" in d.note]
    assert not unclassified, f"PRD YAML blocks nobody looked at: {unclassified}"


@needs_prd
def test_the_prd_uses_the_kinds_we_expect() -> None:
    used = {(d.model.RESOURCE.kind if d.model else None, d.role) for d in OURS}
    assert used == {
        ("GitRepository", "object"),
        ("Kustomization", "object"),
        ("Kustomization", "fragment"),
        ("HelmRelease", "object"),
        ("HelmRelease", "fragment"),
        ("ImageUpdateAutomation", "object"),
        ("Alert", "object"),
    }


@pytest.mark.parametrize("document", OBJECTS, ids=lambda d: d.id)
def test_prd_object_parses(document: prd.PrdDocument) -> None:
    parsed = kinds.parse_object(document.data)
    assert document.model is not None
    assert isinstance(parsed, document.model)
    assert parsed.api_version == document.data["apiVersion"]


@pytest.mark.parametrize("document", OBJECTS, ids=lambda d: d.id)
def test_prd_object_fits_its_crd(document: prd.PrdDocument) -> None:
    assert document.model is not None
    schema = _schema(document.model, document.data["apiVersion"])
    assert openapi_check.validate(document.data, schema) == []


@pytest.mark.parametrize("document", FRAGMENTS, ids=lambda d: d.id)
def test_prd_fragment_fits_its_kind(document: prd.PrdDocument) -> None:
    assert document.model is not None
    spec = kinds.spec_model(document.model)
    assert kinds.fragment_problems(spec, document.data["spec"]) == []
    schema = _schema(document.model, document.model.RESOURCE.api_version())
    spec_schema = schema["properties"]["spec"]
    assert openapi_check.validate(document.data["spec"], spec_schema, "spec", partial=True) == []


@needs_prd
def test_fragments_belong_to_the_kinds_the_prd_means() -> None:
    owners = {frozenset(d.data["spec"]): d.model for d in FRAGMENTS}
    assert owners == {
        frozenset({"interval", "prune", "force"}): kustomize.Kustomization,
        frozenset({"rollback"}): helm.HelmRelease,
    }


@needs_prd
def test_prd_kustomization_keeps_its_meaning() -> None:
    ks = kustomize.Kustomization.model_validate(_by_name("infrastructure"))
    assert ks.spec.validation == "client"
    assert ks.spec.prune is True
    assert ks.spec.health_checks[0].kind == "Deployment"
    assert ks.spec.effective_timeout().seconds == 270  # 5m interval, less 30s


@needs_prd
def test_prd_git_repository_without_interval_polls_every_minute() -> None:
    repo = source.GitRepository.model_validate(_by_name("team-backend-infra"))
    assert repo.spec is not None
    assert repo.spec.interval == "1m"


@needs_prd
def test_prd_git_repository_without_spec_parses() -> None:
    bare = [d for d in OBJECTS if d.data.get("kind") == "GitRepository" and "spec" not in d.data]
    assert bare, "the PRD's metadata-only GitRepository is gone"
    assert source.GitRepository.model_validate(bare[0].data).spec is None


@needs_prd
def test_prd_helm_release_without_interval_defaults() -> None:
    release = helm.HelmRelease.model_validate(_by_name("weave-gitops"))
    assert release.spec.interval == "1m"
    assert release.spec.chart is not None
    assert release.spec.chart.spec.version == "*"
    assert release.release_name() == "weave-gitops"


@needs_prd
def test_prd_rollback_enable_rolls_back_failed_upgrades() -> None:
    (fragment,) = [d for d in FRAGMENTS if "rollback" in d.data["spec"]]
    spec = helm.HelmReleaseSpec.model_validate(
        {**fragment.data["spec"], "chart": {"spec": {"chart": "c", "sourceRef": _HELM_REPO}}}
    )
    assert spec.rollback is not None
    assert spec.rollback.enable is True
    remediation = spec.upgrade_remediation()
    assert remediation.must_remediate_last_failure()
    assert remediation.effective_strategy() == "rollback"


@needs_prd
def test_prd_alert_v1beta1_and_automation_v1beta1_are_served() -> None:
    alert = next(d for d in OBJECTS if d.data["kind"] == "Alert")
    parsed = notification.Alert.model_validate(alert.data)
    assert parsed.api_version == "notification.toolkit.fluxcd.io/v1beta1"
    assert parsed.spec.event_severity == "info"
    assert [s.name for s in parsed.spec.event_sources] == ["*", "*"]
    automation = next(d for d in OBJECTS if d.data["kind"] == "ImageUpdateAutomation")
    auto = image.ImageUpdateAutomation.model_validate(automation.data)
    assert auto.spec.update.strategy == "Setters"
    assert auto.spec.git is not None
    assert auto.spec.git.push is not None
    assert auto.spec.git.push.branch == "production"


_HELM_REPO = {"kind": "HelmRepository", "name": "repo"}

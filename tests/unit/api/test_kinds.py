"""Reading manifests: the right model for each apiVersion/kind, and errors that name the
field at fault."""

from __future__ import annotations

from typing import Any

import pytest

from kidp_gitops.api import helm, image, kinds, kustomize, notification, source


def _kustomization(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "interval": "5m",
        "path": "./infrastructure",
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "repo"},
    }
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "infrastructure", "namespace": "flux-system"},
        "spec": {**base, **spec},
    }


def _problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(kinds.ManifestError) as caught:
        kinds.parse_object(doc)
    assert caught.value.subject == f"{doc['kind']}/{doc['metadata']['name']}"
    return caught.value.problems


def test_wrong_boolean_names_the_field() -> None:
    (problem,) = _problems(_kustomization(prune="yes please"))
    assert problem == "spec.prune: Input should be a valid boolean"


def test_even_yes_is_not_a_boolean() -> None:
    # The API server rejects a string where a boolean belongs; so do we.
    assert _problems(_kustomization(prune="yes"))[0].startswith("spec.prune:")


def test_wrong_duration_names_the_field() -> None:
    (problem,) = _problems(_kustomization(interval="5 minutes"))
    assert problem.startswith("spec.interval: '5 minutes' is not a duration")
    assert "1h30m" in problem


def test_typo_is_an_unknown_field() -> None:
    assert _problems(_kustomization(intervall="5m")) == ["spec.intervall: unknown field"]


def test_missing_required_field() -> None:
    doc = _kustomization()
    del doc["spec"]["prune"]
    assert _problems(doc) == ["spec.prune: required field is missing"]


def test_nested_paths_have_indexes() -> None:
    doc = _kustomization(healthChecks=[{"kind": "Deployment", "name": "a"}, {"kind": "Deployment"}])
    assert _problems(doc) == ["spec.healthChecks[1].name: required field is missing"]


def test_bad_enum_lists_the_choices() -> None:
    (problem,) = _problems(_kustomization(deletionPolicy="Keep"))
    assert problem.startswith("spec.deletionPolicy: Input should be 'MirrorPrune'")


def test_every_problem_is_reported() -> None:
    problems = _problems(_kustomization(prune="no", interval="1 hour", wait=1))
    assert [p.split(":")[0] for p in problems] == ["spec.interval", "spec.prune", "spec.wait"]


def test_error_message_reads_as_one_line() -> None:
    with pytest.raises(kinds.ManifestError) as caught:
        kinds.parse_object(_kustomization(prune="yes please"))
    assert str(caught.value) == (
        "Kustomization/infrastructure: spec.prune: Input should be a valid boolean"
    )


def test_unserved_version_and_kind() -> None:
    doc = _kustomization()
    doc["apiVersion"] = "kustomize.toolkit.fluxcd.io/v1beta1"
    assert _problems(doc) == [
        "kustomize.toolkit.fluxcd.io/v1beta1, kind Kustomization is not served by kidp"
    ]
    assert kinds.model_for("v1", "ConfigMap") is None


def test_model_rejects_another_kind_or_version() -> None:
    doc = _kustomization()
    doc["kind"] = "HelmRelease"
    with pytest.raises(ValueError, match="kind is 'HelmRelease'"):
        kustomize.Kustomization.model_validate(doc)
    doc = _kustomization()
    doc["apiVersion"] = "kustomize.toolkit.fluxcd.io/v9"
    with pytest.raises(ValueError, match="not served"):
        kustomize.Kustomization.model_validate(doc)


def test_model_for_every_served_version() -> None:
    assert kinds.model_for("source.toolkit.fluxcd.io/v1", "GitRepository") is source.GitRepository
    assert kinds.model_for("helm.toolkit.fluxcd.io/v2", "HelmRelease") is helm.HelmRelease
    for version in ("v1beta1", "v1beta2", "v1beta3"):
        api_version = f"notification.toolkit.fluxcd.io/{version}"
        assert kinds.model_for(api_version, "Alert") is notification.Alert
    assert kinds.model_for("notification.toolkit.fluxcd.io/v1", "Receiver") is notification.Receiver
    for version in ("v1beta1", "v1beta2"):
        api_version = f"image.toolkit.fluxcd.io/{version}"
        assert kinds.model_for(api_version, "ImageUpdateAutomation") is image.ImageUpdateAutomation
    assert kinds.is_ours("image.toolkit.fluxcd.io/v1")
    assert not kinds.is_ours("external-secrets.io/v1beta1")


def test_type_defaults_to_storage_version_in_code() -> None:
    repo = source.GitRepository.model_validate(
        {"metadata": {"name": "r"}, "spec": {"url": "ssh://git@host/r"}}
    )
    assert repo.api_version == "source.toolkit.fluxcd.io/v1"
    assert repo.kind == "GitRepository"


def test_to_dict_round_trips_what_was_written() -> None:
    doc = _kustomization(
        healthChecks=[{"apiVersion": "apps/v1", "kind": "Deployment", "name": "a"}]
    )
    parsed = kinds.parse_object(doc)
    assert parsed.to_dict() == doc
    assert kinds.parse_object(parsed.to_dict()) == parsed


def test_fragment_problems_ignore_missing_fields_but_not_bad_ones() -> None:
    spec = kinds.spec_model(kustomize.Kustomization)
    assert spec is kustomize.KustomizationSpec
    assert kinds.fragment_problems(spec, {"prune": True}) == []
    assert kinds.fragment_problems(spec, {"prune": "yes please"}) == [
        "prune: Input should be a valid boolean"
    ]
    assert kinds.fragment_problems(spec, {"prnue": True}) == ["prnue: unknown field"]
    assert kinds.spec_model(source.GitRepository) is source.GitRepositorySpec


def test_fragment_problems_leave_cross_field_rules_to_the_whole_object() -> None:
    spec = kinds.spec_model(helm.HelmRelease)
    assert kinds.fragment_problems(spec, {"rollback": {"enable": True}}) == []
    assert kinds.fragment_problems(spec, {"rollback": {"enable": "yes"}}) == [
        "rollback.enable: Input should be a valid boolean"
    ]


def test_all_kinds_are_distinct() -> None:
    names = [(m.RESOURCE.group, m.RESOURCE.kind) for m in kinds.ALL_KINDS]
    assert len(names) == len(set(names)) == 15

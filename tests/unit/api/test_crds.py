"""The generated CRDs: structural schemas, names, versions and columns as Flux has them."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kidp_gitops.api import crds, kinds, source
from tests.unit.api import openapi_check

CRDS = crds.all_crds()
BY_KIND = {c["spec"]["names"]["kind"]: c for c in CRDS}
VERSIONS = [(c["spec"]["names"]["kind"], v) for c in CRDS for v in c["spec"]["versions"]]


def _schema(kind: str, version: str | None = None) -> dict[str, Any]:
    for served in BY_KIND[kind]["spec"]["versions"]:
        if version is None or served["name"] == version:
            schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]
            return schema
    raise AssertionError(f"{kind} has no version {version}")


def _at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    node = schema
    for part in path.split("."):
        node = node["items"] if part == "[]" else node["properties"][part]
    return node


def test_one_crd_per_kind() -> None:
    assert set(BY_KIND) == {
        "GitRepository",
        "HelmRepository",
        "HelmChart",
        "OCIRepository",
        "Bucket",
        "ExternalArtifact",
        "ArtifactGenerator",
        "Kustomization",
        "HelmRelease",
        "Provider",
        "Alert",
        "Receiver",
        "ImageRepository",
        "ImagePolicy",
        "ImageUpdateAutomation",
    }
    for crd in CRDS:
        assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
        assert crd["kind"] == "CustomResourceDefinition"
        names = crd["spec"]["names"]
        assert crd["metadata"]["name"] == f"{names['plural']}.{crd['spec']['group']}"
        assert crd["spec"]["scope"] == "Namespaced"


@pytest.mark.parametrize(
    ("kind", "version"), VERSIONS, ids=lambda v: v if isinstance(v, str) else v["name"]
)
def test_schema_is_structural(kind: str, version: dict[str, Any]) -> None:
    schema = version["schema"]["openAPIV3Schema"]
    assert openapi_check.structural_problems(schema) == []
    assert schema["properties"]["metadata"] == {"type": "object"}


@pytest.mark.parametrize(
    ("kind", "version"), VERSIONS, ids=lambda v: v if isinstance(v, str) else v["name"]
)
def test_version_has_status_and_columns(kind: str, version: dict[str, Any]) -> None:
    assert version["served"] is True
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert columns["Age"] == {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
    }
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Status"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].message'
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["default"] == {"observedGeneration": -1}
    assert {"conditions", "observedGeneration"} <= set(status["properties"])


def test_served_versions_and_storage() -> None:
    served = {kind: [v["name"] for v in c["spec"]["versions"]] for kind, c in BY_KIND.items()}
    assert served == {
        "GitRepository": ["v1"],
        "HelmRepository": ["v1"],
        "HelmChart": ["v1"],
        "OCIRepository": ["v1", "v1beta2"],
        "Bucket": ["v1", "v1beta2"],
        "ExternalArtifact": ["v1"],
        "ArtifactGenerator": ["v1beta1"],
        "Kustomization": ["v1"],
        "HelmRelease": ["v2"],
        "Provider": ["v1beta3", "v1beta2", "v1beta1"],
        "Alert": ["v1beta3", "v1beta2", "v1beta1"],
        "Receiver": ["v1"],
        "ImageRepository": ["v1", "v1beta2"],
        "ImagePolicy": ["v1", "v1beta2"],
        "ImageUpdateAutomation": ["v1", "v1beta2", "v1beta1"],
    }
    for crd in CRDS:
        versions = crd["spec"]["versions"]
        assert sum(v["storage"] for v in versions) == 1
        assert crd["spec"]["conversion"] == {"strategy": "None"}
        schemas = [v["schema"] for v in versions]
        assert all(s == schemas[0] for s in schemas)  # one schema, so no conversion needed
        for version in versions:
            assert version.get("deprecated", False) is (not version["storage"])
    # Deprecation warnings point at the version Flux serves today.
    policy = {v["name"]: v for v in BY_KIND["ImagePolicy"]["spec"]["versions"]}
    assert policy["v1"]["storage"]
    assert policy["v1beta2"]["deprecationWarning"] == (
        "image.toolkit.fluxcd.io/v1beta2 ImagePolicy is deprecated, "
        "use image.toolkit.fluxcd.io/v1 ImagePolicy"
    )


def test_names_as_flux_has_them() -> None:
    names = {kind: c["spec"]["names"] for kind, c in BY_KIND.items()}
    assert {k: n.get("shortNames", []) for k, n in names.items()} == {
        "GitRepository": ["gitrepo"],
        "HelmRepository": ["helmrepo"],
        "HelmChart": ["hc"],
        "OCIRepository": ["ocirepo"],
        "Bucket": [],  # as Flux's
        "ExternalArtifact": ["ea"],
        "ArtifactGenerator": ["ag"],
        "Kustomization": ["ks"],
        "HelmRelease": ["hr"],
        "Provider": [],  # Flux gives the notification kinds no short names
        "Alert": [],
        "Receiver": [],
        "ImageRepository": ["imgrepo", "imagerepo"],
        "ImagePolicy": ["imgpol", "imagepol"],
        "ImageUpdateAutomation": ["iua", "imgupd", "imgauto"],
    }
    assert names["HelmChart"]["singular"] == "helmchart"
    assert names["ImagePolicy"]["plural"] == "imagepolicies"
    assert names["GitRepository"]["listKind"] == "GitRepositoryList"
    categories = {kind: n["categories"] for kind, n in names.items()}
    assert categories["GitRepository"] == ["all", "fluxcd", "fluxcd-sources"]
    assert categories["Kustomization"] == ["all", "fluxcd", "fluxcd-appliers"]
    assert categories["HelmRelease"] == ["all", "fluxcd", "fluxcd-appliers"]
    assert categories["Alert"] == ["all", "fluxcd", "fluxcd-notifications"]
    assert categories["ImagePolicy"] == ["all", "fluxcd", "fluxcd-images"]


def test_flux_get_columns() -> None:
    def columns(kind: str) -> list[str]:
        return [c["name"] for c in BY_KIND[kind]["spec"]["versions"][0]["additionalPrinterColumns"]]

    assert columns("GitRepository") == ["URL", "Age", "Ready", "Status", "Revision", "Suspended"]
    assert columns("HelmChart")[:4] == ["Chart", "Version", "Source Kind", "Source Name"]
    assert columns("Kustomization") == ["Age", "Ready", "Status", "Revision", "Suspended"]
    assert columns("HelmRelease") == ["Age", "Ready", "Status", "Revision", "Suspended"]


def test_only_free_form_json_preserves_unknown_fields() -> None:
    preserved = {
        kind: openapi_check.preserved_paths(_schema(kind))
        for kind in BY_KIND
        if kind != "HelmRelease"
    }
    assert preserved == {kind: [] for kind in preserved}
    assert set(openapi_check.preserved_paths(_schema("HelmRelease"))) == {
        "spec.values",
        "spec.postRenderers[].kustomize.patchesStrategicMerge[]",
        "spec.postRenderers[].kustomize.patchesJson6902[].patch[].value",
    }
    assert _at(_schema("HelmRelease"), "spec.values")["type"] == "object"


def test_enums_patterns_and_required_from_the_models() -> None:
    ks = _schema("Kustomization")
    assert set(ks["required"]) == {"spec"}
    assert set(_at(ks, "spec")["required"]) == {"sourceRef", "interval", "prune"}
    assert _at(ks, "spec.deletionPolicy")["enum"] == [
        "MirrorPrune",
        "Delete",
        "WaitForTermination",
        "Orphan",
    ]
    assert _at(ks, "spec.validation")["enum"] == ["none", "client", "server"]
    assert _at(ks, "spec.interval")["pattern"] == r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
    assert _at(ks, "spec.decryption.provider") == {"enum": ["sops"], "type": "string"}
    assert _at(ks, "spec.postBuild.substitute")["additionalProperties"] == {"type": "string"}
    assert _at(ks, "status.inventory.entries.[].v")["type"] == "string"
    git = _schema("GitRepository")
    assert "required" not in git  # the PRD has a GitRepository without spec
    assert _at(git, "spec.url")["pattern"] == "^(http|https|ssh)://.*$"
    assert _at(git, "spec.timeout")["pattern"] == r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"
    assert _at(git, "spec.verify.mode")["enum"] == ["head", "HEAD", "Tag", "TagAndHEAD"]
    assert _at(git, "status.conditions.[].status")["enum"] == ["True", "False", "Unknown"]
    assert _at(git, "status.artifact.lastUpdateTime")["format"] == "date-time"


def test_crd_defaults_are_the_model_defaults() -> None:
    assert _at(_schema("GitRepository"), "spec.timeout")["default"] == "60s"
    assert _at(_schema("GitRepository"), "spec.interval")["default"] == "1m"
    assert source.GitRepositorySpec(url="https://x").timeout == "60s"
    assert _at(_schema("HelmChart"), "spec.version")["default"] == "*"
    assert _at(_schema("HelmChart"), "spec.reconcileStrategy")["default"] == "ChartVersion"
    assert _at(_schema("Kustomization"), "spec.force")["default"] is False
    assert _at(_schema("Alert"), "spec.eventSeverity")["default"] == "info"
    assert _at(_schema("Receiver"), "spec.interval")["default"] == "10m"
    assert _at(_schema("ImageUpdateAutomation"), "spec.update")["default"] == {
        "strategy": "Setters"
    }
    assert _at(_schema("ImageRepository"), "spec.exclusionList")["default"] == ["^.*\\.sig$"]
    # Fields without a CRD default stay unset on the server, as in Flux.
    assert "default" not in _at(_schema("Kustomization"), "spec.suspend")
    assert "default" not in _at(_schema("Kustomization"), "spec.timeout")


def test_helm_release_requires_chart_or_chart_ref_on_the_server() -> None:
    rules = _at(_schema("HelmRelease"), "spec")["x-kubernetes-validations"]
    assert rules[0]["message"] == "either chart or chartRef must be set"


def test_descriptions_come_from_the_docstrings() -> None:
    ks = _schema("Kustomization")
    assert ks["description"].startswith("A path of a source artifact")
    assert "Deprecated" in _at(ks, "spec.validation")["description"]


def test_yaml_dump_round_trips_without_aliases() -> None:
    text = crds.dump_yaml()
    assert "&id" not in text
    assert "*id" not in text
    assert list(yaml.safe_load_all(text)) == CRDS
    assert text.count("kind: CustomResourceDefinition") == len(kinds.ALL_KINDS)


def test_unsupported_schema_keywords_are_refused() -> None:
    with pytest.raises(crds.SchemaError, match="uniqueItems"):
        crds._convert({"type": "array", "items": {"type": "string"}, "uniqueItems": True}, {})
    with pytest.raises(crds.SchemaError, match="anyOf"):
        crds._convert({"anyOf": [{"type": "string"}, {"type": "integer"}]}, {})

"""Built objects against Kubernetes' schemas (offline) and the repository's own CRDs."""

from __future__ import annotations

from pathlib import Path

import pytest

from kidp_gitops import validate
from kidp_gitops.validate import schemas
from tests.unit.validate.conftest import failing, line_of, replace, run, write

DEPLOYMENT = "infrastructure/base/operators/deployment.yaml"
BROKER = "infrastructure/base/brokers/broker.yaml"


def test_unknown_field_of_a_deployment(repo: Path) -> None:
    replace(repo, DEPLOYMENT, "replicas:", "replicaz:")
    (finding,) = failing(run(repo))
    assert finding.check == "schema"
    assert finding.object == "Deployment/kidp-system/kidp-operator"
    assert finding.where() == f"{DEPLOYMENT}:{line_of(repo, DEPLOYMENT, 'replicaz')}"
    assert finding.message == "spec.replicaz: unknown field"


def test_wrong_type_against_a_crd_of_the_repository(repo: Path) -> None:
    replace(repo, BROKER, "replicas: 1", "replicas: many")
    replace(repo, BROKER, "engine: nats", "engine: nats\n  color: blue")
    messages = {(f.line, f.message) for f in failing(run(repo))}
    assert messages == {
        (line_of(repo, BROKER, "replicas"), "spec.replicas: expected integer, found string"),
        (line_of(repo, BROKER, "color"), "spec.color: unknown field"),
    }


def test_enum_of_a_crd(repo: Path) -> None:
    replace(repo, BROKER, "engine: nats", "engine: mqseries")
    (finding,) = failing(run(repo))
    assert finding.message.startswith("spec.engine: 'mqseries' is not one of")


def test_kinds_without_a_schema_are_skipped_not_failed(repo: Path) -> None:
    write(
        repo,
        "policies/monitor.yaml",
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n"
        "  name: web\n  namespace: team-frontend\nspec:\n  anything: [1, 2]\n",
    )
    report = run(repo)
    assert failing(report) == []
    (skipped,) = [f for f in report.findings if f.severity == "skipped"]
    assert skipped.file == "policies/monitor.yaml"
    assert "CRD is not in the repository" in skipped.message


def test_an_api_kubernetes_no_longer_serves_is_an_error(repo: Path) -> None:
    write(
        repo,
        "policies/psp.yaml",
        "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata:\n  name: old\nspec: {}\n",
    )
    (finding,) = failing(run(repo))
    assert finding.message == "Kubernetes 1.36 serves no PodSecurityPolicy in policy/v1beta1"


def test_int_or_string_and_null_values_pass(repo: Path) -> None:
    write(
        repo,
        "policies/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: team-frontend\n"
        "  creationTimestamp: null\nspec:\n  ports:\n    - port: 80\n      targetPort: http\n"
        "    - port: 81\n      targetPort: 8081\n",
    )
    assert failing(run(repo)) == []


def test_the_kubernetes_version_picks_the_schemas(repo: Path) -> None:
    assert "1.36" in validate.available_versions()
    assert run(repo, kubernetes_version="1.30").kubernetes_version == "1.30"
    with pytest.raises(validate.UnsupportedVersion, match=r"available: 1\.25"):
        run(repo, kubernetes_version="2.0")


def test_crd_conversion_keeps_structural_rules() -> None:
    converted = schemas.convert(
        {
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": True},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "note": {"type": "string", "nullable": True},
            },
        }
    )
    assert converted["additionalProperties"] is False
    props = converted["properties"]
    assert props["port"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert "additionalProperties" not in props["free"]
    assert props["labels"]["additionalProperties"] == {"type": "string"}
    assert props["note"]["type"] == ["string", "null"]

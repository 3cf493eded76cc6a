from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kidp_gitops.api import helm

CHART = {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}


def _spec(**fields: Any) -> helm.HelmReleaseSpec:
    return helm.HelmReleaseSpec.model_validate({"chart": CHART, **fields})


def _release(**fields: Any) -> helm.HelmRelease:
    return helm.HelmRelease.model_validate(
        {"metadata": {"name": "app", "namespace": "team-a"}, "spec": {"chart": CHART, **fields}}
    )


def test_defaults_as_methods() -> None:
    spec = _spec()
    assert spec.interval == "1m"
    assert spec.effective_timeout() == "5m"
    assert spec.effective_max_history() == 5
    assert spec.uses_persistent_client()
    assert spec.chart_interval() == "1m"
    assert spec.install_remediation().retries == 0
    assert not spec.upgrade_remediation().must_remediate_last_failure()
    assert spec.upgrade_remediation().effective_strategy() == "rollback"
    assert helm.DriftDetection().effective_mode() == "disabled"
    assert helm.Uninstall().deletion_propagation == "background"
    assert helm.ValuesReference(kind="Secret", name="v").effective_values_key() == "values.yaml"
    assert _spec(maxHistory=0).effective_max_history() == 0


def test_release_names() -> None:
    release = _release()
    assert release.release_name() == "app"
    assert release.release_namespace() == "team-a"
    assert release.storage_namespace() == "team-a"
    assert release.helm_chart_name() == "team-a-app"
    targeted = _release(targetNamespace="prod", storageNamespace="helm")
    assert targeted.release_name() == "prod-app"
    assert targeted.release_namespace() == "prod"
    assert targeted.storage_namespace() == "helm"
    assert _release(releaseName="named").release_name() == "named"


def test_either_chart_or_chart_ref() -> None:
    with pytest.raises(ValidationError, match="either chart or chartRef"):
        helm.HelmReleaseSpec.model_validate({"interval": "5m"})
    with pytest.raises(ValidationError, match="either chart or chartRef"):
        _spec(chartRef={"kind": "OCIRepository", "name": "x"})
    ref = helm.HelmReleaseSpec.model_validate(
        {"chartRef": {"kind": "HelmChart", "name": "x", "namespace": "y"}}
    )
    assert ref.chart is None


def test_upgrade_remediation_retries() -> None:
    spec = _spec(upgrade={"remediation": {"retries": 3}})
    assert spec.upgrade_remediation().must_remediate_last_failure()
    spec = _spec(
        upgrade={
            "remediation": {"retries": 3, "remediateLastFailure": False, "strategy": "uninstall"}
        }
    )
    assert not spec.upgrade_remediation().must_remediate_last_failure()
    assert spec.upgrade_remediation().effective_strategy() == "uninstall"


def test_rollback_enable_from_the_helm_operator() -> None:
    enabled = _spec(rollback={"enable": True, "force": True, "timeout": "5m", "disableWait": False})
    assert enabled.upgrade_remediation() == helm.UpgradeRemediation(
        remediate_last_failure=True, strategy="rollback"
    )
    disabled = _spec(rollback={"enable": False})
    assert not disabled.upgrade_remediation().must_remediate_last_failure()
    explicit = _spec(
        rollback={"enable": True}, upgrade={"remediation": {"remediateLastFailure": False}}
    )
    assert not explicit.upgrade_remediation().must_remediate_last_failure()


def test_every_flux_field() -> None:
    spec = _spec(
        chart={
            "metadata": {"labels": {"a": "b"}},
            "spec": {
                "chart": "podinfo",
                "version": ">=6.0.0",
                "sourceRef": {
                    "kind": "HelmRepository",
                    "name": "podinfo",
                    "namespace": "flux-system",
                },
                "interval": "10m",
                "reconcileStrategy": "Revision",
                "valuesFiles": ["values-prod.yaml"],
                "ignoreMissingValuesFiles": True,
                "verify": {"provider": "notation", "secretRef": {"name": "certs"}},
            },
        },
        interval="5m",
        kubeConfig={"secretRef": {"name": "remote"}},
        suspend=False,
        releaseName="podinfo",
        targetNamespace="apps",
        storageNamespace="apps",
        dependsOn=[{"name": "cert-manager", "namespace": "cert-manager"}],
        timeout="10m",
        maxHistory=10,
        serviceAccountName="helm",
        persistentClient=False,
        driftDetection={
            "mode": "warn",
            "ignore": [{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}],
        },
        install={
            "remediation": {"retries": -1},
            "crds": "CreateReplace",
            "createNamespace": True,
            "skipCRDs": False,
        },
        upgrade={
            "force": True,
            "cleanupOnFail": True,
            "disableWait": True,
            "disableOpenAPIValidation": True,
        },
        test={"enable": True, "filters": [{"name": "smoke", "exclude": True}]},
        rollback={"recreate": True, "cleanupOnFail": True},
        uninstall={"keepHistory": True, "deletionPropagation": "foreground"},
        valuesFrom=[
            {"kind": "ConfigMap", "name": "vals", "valuesKey": "prod.yaml", "targetPath": "a.b[0]"}
        ],
        values={"replicaCount": 3, "image": {"tag": "v1.0.0"}, "list": [1, "two", None]},
        postRenderers=[
            {
                "kustomize": {
                    "patches": [
                        {"patch": "- op: remove\n  path: /x", "target": {"kind": "Service"}}
                    ],
                    "patchesStrategicMerge": [{"kind": "Deployment", "metadata": {"name": "x"}}],
                    "patchesJson6902": [
                        {
                            "target": {"kind": "Deployment"},
                            "patch": [{"op": "add", "path": "/a", "value": 1}],
                        }
                    ],
                    "images": [{"name": "app", "digest": "sha256:abc"}],
                }
            }
        ],
    )
    assert spec.chart_interval() == "10m"
    assert spec.values == {"replicaCount": 3, "image": {"tag": "v1.0.0"}, "list": [1, "two", None]}
    assert spec.install is not None
    assert spec.install.disable_open_api_validation is False
    assert spec.upgrade is not None
    assert spec.upgrade.disable_open_api_validation is True


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("driftDetection", {"mode": "on"}),
        ("install", {"crds": "Replace"}),
        ("upgrade", {"remediation": {"strategy": "retry"}}),
        ("values", ["not", "an", "object"]),
        ("valuesFrom", [{"kind": "ConfigMap", "name": "v", "valuesKey": "has space"}]),
        ("releaseName", "x" * 54),
        ("maxHistory", "5"),
    ],
)
def test_rejects(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        _spec(**{field: value})


def test_status_reads_flux_history() -> None:
    status = helm.HelmReleaseStatus.model_validate(
        {
            "observedGeneration": 3,
            "helmChart": "flux-system/team-a-app",
            "lastAttemptedReleaseAction": "upgrade",
            "upgradeFailures": 1,
            "history": [
                {
                    "digest": "sha256:a",
                    "name": "app",
                    "namespace": "team-a",
                    "version": 2,
                    "status": "deployed",
                    "chartName": "podinfo",
                    "chartVersion": "6.5.0",
                    "configDigest": "sha256:b",
                    "firstDeployed": "2024-05-01T10:00:00Z",
                    "lastDeployed": "2024-05-02T10:00:00Z",
                    "testHooks": {"smoke": {"phase": "Succeeded"}},
                }
            ],
        }
    )
    assert status.history[0].chart_version == "6.5.0"
    assert status.history[0].test_hooks is not None
    assert status.history[0].test_hooks["smoke"].phase == "Succeeded"

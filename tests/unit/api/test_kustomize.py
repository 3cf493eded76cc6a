from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kidp_gitops.api import kustomize


def _spec(**fields: Any) -> kustomize.KustomizationSpec:
    base: dict[str, Any] = {
        "interval": "10m",
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "repo"},
    }
    return kustomize.KustomizationSpec.model_validate({**base, **fields})


def test_defaults_as_methods() -> None:
    spec = _spec()
    assert spec.effective_path() == "./"
    assert spec.effective_retry_interval() == "10m"
    assert spec.effective_deletion_policy() == "MirrorPrune"
    assert spec.force is False
    assert spec.wait is False
    assert spec.validation is None


@pytest.mark.parametrize(
    ("interval", "timeout", "expected"),
    [
        ("10m", None, 570.0),  # Flux: the interval less 30s
        ("1m", None, 30.0),  # never under 30s
        ("30s", None, 30.0),
        ("10m", "2m", 120.0),
        ("10m", "5s", 30.0),
    ],
)
def test_timeout_falls_back_to_the_interval(
    interval: str, timeout: str | None, expected: float
) -> None:
    spec = _spec(interval=interval, **({"timeout": timeout} if timeout else {}))
    assert spec.effective_timeout().seconds == expected


def test_retry_interval() -> None:
    assert _spec(retryInterval="30s").effective_retry_interval() == "30s"


def test_prune_is_required() -> None:
    with pytest.raises(ValidationError, match="prune"):
        kustomize.KustomizationSpec.model_validate(
            {"interval": "1m", "sourceRef": {"kind": "GitRepository", "name": "r"}}
        )


def test_every_flux_field() -> None:
    spec = _spec(
        path="./apps/staging",
        retryInterval="1m",
        timeout="3m",
        deletionPolicy="WaitForTermination",
        wait=True,
        healthChecks=[
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "a", "namespace": "b"}
        ],
        healthCheckExprs=[
            {
                "apiVersion": "example.com/v1",
                "kind": "Thing",
                "current": "status.ready",
                "failed": "false",
            }
        ],
        dependsOn=[{"name": "infra"}, {"name": "db", "namespace": "data", "kind": "HelmRelease"}],
        serviceAccountName="deployer",
        targetNamespace="apps",
        namePrefix="p-",
        nameSuffix="-s",
        commonMetadata={"labels": {"team": "a"}, "annotations": {"x": "y"}},
        patches=[{"patch": "- op: add\n  path: /x\n  value: 1", "target": {"kind": "Deployment"}}],
        images=[{"name": "app", "newTag": "v2"}],
        components=["../components/x"],
        ignoreMissingComponents=True,
        postBuild={
            "substitute": {"cluster": "prod"},
            "substituteFrom": [{"kind": "ConfigMap", "name": "vars", "optional": True}],
        },
        force=True,
        decryption={"provider": "sops", "secretRef": {"name": "sops-age"}},
        suspend=True,
        kubeConfig={"secretRef": {"name": "remote", "key": "value"}},
        ignore=[{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}],
        validation="server",
    )
    assert spec.depends_on[0].kind == "Kustomization"
    assert spec.depends_on[1].kind == "HelmRelease"
    assert spec.post_build is not None
    assert spec.post_build.substitute_from[0].optional
    assert spec.source_ref.namespace is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("deletionPolicy", "Keep"),
        ("validation", "strict"),
        ("decryption", {"provider": "vault"}),
        ("dependsOn", [{"name": "x", "kind": "GitRepository"}]),
        ("sourceRef", {"kind": "HelmRepository", "name": "r"}),
        ("postBuild", {"substituteFrom": [{"kind": "Namespace", "name": "x"}]}),
        ("targetNamespace", ""),
    ],
)
def test_enums_and_limits(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        _spec(**{field: value})


def test_inventory_entries_in_flux_format() -> None:
    status = kustomize.KustomizationStatus.model_validate(
        {
            "inventory": {
                "entries": [
                    {"id": "kidp-system_kidp-operator_apps_Deployment", "v": "v1"},
                    {"id": "_kidp-system__Namespace", "v": "v1"},
                ]
            },
            "lastAppliedRevision": "main@sha1:abc",
            "lastAttemptedRevision": "main@sha1:abc",
            "lastAppliedOriginRevision": "abc",
        }
    )
    assert status.inventory is not None
    deployment, namespace = status.inventory.entries
    assert (deployment.namespace, deployment.name, deployment.group, deployment.kind) == (
        "kidp-system",
        "kidp-operator",
        "apps",
        "Deployment",
    )
    assert (namespace.namespace, namespace.name, namespace.group, namespace.kind) == (
        "",
        "kidp-system",
        "",
        "Namespace",
    )
    built = kustomize.ResourceRef.of("kidp-system", "kidp-operator", "apps", "Deployment", "v1")
    assert built == deployment


def test_inventory_id_must_have_four_parts() -> None:
    with pytest.raises(ValueError, match="not <namespace>"):
        _ = kustomize.ResourceRef(id="just-a-name", v="v1").kind


def test_json6902_from_field() -> None:
    patch = kustomize.JSON6902Patch.model_validate(
        {
            "patch": [
                {"op": "move", "from": "/a", "path": "/b"},
                {"op": "add", "path": "/c", "value": {"x": [1]}},
            ],
            "target": {"kind": "Deployment"},
        }
    )
    assert patch.patch[0].from_ == "/a"
    assert patch.patch[1].value == {"x": [1]}

"""Names that are impersonated or used as namespaces are checked as the API server would
check them (issue 12): `../../kube-system/default` never reaches an Impersonate-User
header, and the CRD schema refuses it before any controller sees it."""

from __future__ import annotations

from typing import Any

import pytest

from kidp_gitops.api import crds, helm, kustomize
from kidp_gitops.runtime import lifecycle
from kidp_gitops.runtime.reconcile import StalledError


def ks(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "team"},
        "spec": {
            "interval": "5m",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            **spec,
        },
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("serviceAccountName", "../../kube-system/default"),
        ("serviceAccountName", "system:serviceaccount:kube-system:default"),
        ("serviceAccountName", "Deployer"),
        ("targetNamespace", "Team_A"),
        ("targetNamespace", "a" * 64),
        ("targetNamespace", "../kube-system"),
    ],
)
def test_a_bad_name_is_an_invalid_spec_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(StalledError) as caught:
        lifecycle.parse(kustomize.Kustomization, ks(**{field: value}))
    assert caught.value.reason == "InvalidSpec"
    assert caught.value.message.startswith(f"invalid spec: spec.{field}: ")


@pytest.mark.parametrize("account", ["deployer", "kustomize-controller", "a.b-c"])
def test_good_names_pass(account: str) -> None:
    parsed = lifecycle.parse(kustomize.Kustomization, ks(serviceAccountName=account))
    assert parsed.spec.service_account_name == account


def test_the_crds_carry_the_patterns() -> None:
    """The API server refuses the object at `kubectl apply`, before any reconcile."""
    for model, fields in (
        (kustomize.Kustomization, ("serviceAccountName", "targetNamespace")),
        (helm.HelmRelease, ("serviceAccountName", "targetNamespace", "storageNamespace")),
    ):
        crd = crds.crd(model)
        version = next(v for v in crd["spec"]["versions"] if v["storage"])
        props = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        for name in fields:
            assert props[name]["pattern"].startswith("^[a-z0-9]"), (model, name)

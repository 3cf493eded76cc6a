"""The resource manager's policy, as the Kustomization controller and `kidp diff` both
read it: each object's mode, protection and whether it may be recreated."""

from __future__ import annotations

from typing import Any

from kidp_gitops.kube.ssa import Policy
from kidp_gitops.kustomize.apply import POLICY, policy


def obj(**annotations: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"annotations": annotations}}


def test_modes_from_the_ssa_annotation() -> None:
    ssa = "kustomize.toolkit.fluxcd.io/ssa"
    assert POLICY.mode(obj()) == "Override"
    for mode in ("Merge", "IfNotPresent", "Ignore"):
        assert POLICY.mode(obj(**{ssa: mode})) == mode
    assert POLICY.mode(obj(**{ssa: "merge-please"})) == "Override", "unknown values override"
    assert Policy("helm").mode(obj(**{ssa: "Ignore"})) == "Override", "not Helm's annotation"


def test_protection_by_either_annotation() -> None:
    assert POLICY.protects(obj(**{"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}))
    assert POLICY.protects(obj(**{"flux.weave.works/ignore": "true"}))
    assert not POLICY.protects(obj(**{"flux.weave.works/ignore": "false"}))
    assert not Policy("helm").protects(obj(**{"flux.weave.works/ignore": "true"}))


def test_recreate_by_annotation_or_spec_force() -> None:
    forced = obj(**{"kustomize.toolkit.fluxcd.io/force": "enabled"})
    assert POLICY.may_recreate(forced)
    assert not POLICY.may_recreate(obj())
    assert policy(force=True).may_recreate(obj())


def test_no_take_over_for_merge_or_protected_objects() -> None:
    live: dict[str, Any] = {
        "metadata": {
            "managedFields": [
                {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:data": {}}}
            ]
        }
    }
    assert POLICY.must_take_over(obj(), live)
    assert not POLICY.must_take_over(obj(**{"kustomize.toolkit.fluxcd.io/ssa": "Merge"}), live)
    assert not POLICY.must_take_over(
        obj(**{"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}), live
    )
    assert not Policy("helm").must_take_over(obj(), live), "Helm takes nothing over"

"""The fields that hold CEL, and the problems that stall an object before it runs."""

from __future__ import annotations

from kidp_gitops.cel import fields


def _kustomization(**spec: object) -> dict[str, object]:
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "spec": spec}


def test_each_bad_expression_is_named_by_its_field() -> None:
    obj = _kustomization(
        healthCheckExprs=[
            {"apiVersion": "a.io/v1", "kind": "A", "current": "true", "inProgress": "x ="},
        ],
        dependsOn=[{"name": "ok", "readyExpr": "dep.status.ready == true"}, {"name": "b"}],
    )
    (problem,) = fields.problems("Kustomization", obj)
    assert problem.startswith("spec.healthCheckExprs[0].inProgress: invalid CEL expression:")


def test_two_checks_for_one_kind_are_refused_as_in_flux() -> None:
    obj = _kustomization(
        healthCheckExprs=[
            {"apiVersion": "a.io/v1", "kind": "A", "current": "true"},
            {"apiVersion": "a.io/v2", "kind": "A", "current": "false"},
            {"apiVersion": "a.io/v1", "current": "true"},  # the whole group: another key
        ]
    )
    assert fields.problems("Kustomization", obj) == [
        "spec.healthCheckExprs[1]: a second health check for A.a.io"
    ]


def test_receiver_filters() -> None:
    obj = {
        "spec": {
            "resourceFilter": "res.metadata.name == 'app'",
            "resources": [{"kind": "GitRepository", "name": "*", "filter": "req.ref"}],
        }
    }
    (problem,) = fields.problems("Receiver", obj)
    assert problem.startswith("spec.resources[0].filter: invalid CEL expression: the expr")


def test_group_kind_ignores_the_version() -> None:
    assert fields.group_kind("a.io/v1", "A") == fields.group_kind("a.io/v2", "A") == ("a.io", "A")
    assert fields.group_kind("v1", "ConfigMap") == ("", "ConfigMap")
    assert fields.group_kind("a.io/v1", None) == ("a.io", "")


def test_commit_status_expr_must_be_a_string() -> None:
    good = {"spec": {"type": "gitlab", "commitStatusExpr": "'ci/' + event.involvedObject.name"}}
    assert fields.problems("Provider", good) == []
    bad = {"spec": {"type": "gitlab", "commitStatusExpr": "size(event) > 1"}}
    assert fields.problems("Provider", bad) == [
        "spec.commitStatusExpr: invalid CEL expression: the expression must return a "
        "string, not BOOL"
    ]

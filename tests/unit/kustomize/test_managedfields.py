"""Taking over kubectl's fields before an apply, as Flux does: which managedFields entries
move to our field manager, the JSON patch that moves them, and how the change reads in
the DriftCorrected event."""

from __future__ import annotations

from typing import Any

import pytest

from kidp_gitops.kube.compare import diff_paths
from kidp_gitops.kube.patch import Manager, pointer, take_over_patch, union_fields
from kidp_gitops.kustomize.apply import FIELD_MANAGER, LAST_APPLIED, POLICY, TAKE_OVER

OURS = {
    "manager": FIELD_MANAGER,
    "operation": "Apply",
    "apiVersion": "apps/v1",
    "fieldsType": "FieldsV1",
    "fieldsV1": {
        "f:spec": {
            "f:template": {
                "f:spec": {"f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}}}}
            }
        }
    },
}
EDIT = {
    "manager": "kubectl-edit",
    "operation": "Update",
    "apiVersion": "apps/v1",
    "fieldsType": "FieldsV1",
    "fieldsV1": {
        "f:spec": {
            "f:template": {
                "f:spec": {"f:containers": {'k:{"name":"web-renamed"}': {".": {}, "f:name": {}}}}
            }
        }
    },
}
STATUS = {
    "manager": "kube-controller-manager",
    "operation": "Update",
    "subresource": "status",
    "fieldsV1": {"f:status": {"f:replicas": {}}},
}


def live(*entries: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web", "resourceVersion": "42", "managedFields": list(entries)}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta}


def patched(obj: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON patch applied as the API server would (test, replace, remove)."""
    meta = dict(obj["metadata"])
    for op in ops:
        if op["op"] == "test":
            assert op["path"] == "/metadata/resourceVersion"
            assert op["value"] == meta["resourceVersion"]
        elif op["op"] == "replace":
            assert op["path"] == "/metadata/managedFields"
            meta["managedFields"] = op["value"]
        else:
            assert op["op"] == "remove"
            key = op["path"].removeprefix("/metadata/annotations/")
            key = key.replace("~1", "/").replace("~0", "~")
            meta["annotations"] = {k: v for k, v in meta["annotations"].items() if k != key}
    return {**obj, "metadata": meta}


def test_kubectl_edit_fields_join_our_apply_entry() -> None:
    obj = live(OURS, EDIT, STATUS)
    ops = take_over_patch(obj, TAKE_OVER, FIELD_MANAGER)
    assert ops is not None
    assert ops[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "42"}
    entries = patched(obj, ops)["metadata"]["managedFields"]
    assert [e["manager"] for e in entries] == ["kube-controller-manager", FIELD_MANAGER]
    ours = entries[-1]
    assert ours["operation"] == "Apply"
    containers = ours["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert set(containers) == {'k:{"name":"web"}', 'k:{"name":"web-renamed"}'}
    assert containers['k:{"name":"web"}'] == {".": {}, "f:image": {}}


@pytest.mark.parametrize(
    ("manager", "operation"),
    [
        ("kubectl-edit", "Update"),
        ("kubectl-patch", "Update"),
        ("kubectl-client-side-apply", "Update"),
        ("kubectl-label", "Update"),
        ("kubectl", "Apply"),
        ("before-first-apply", "Update"),
        (FIELD_MANAGER, "Update"),
    ],
)
def test_flux_takes_over_these_managers(manager: str, operation: str) -> None:
    entry = {**EDIT, "manager": manager, "operation": operation}
    assert POLICY.others_fields(live(OURS, entry)) == [manager]
    ops = take_over_patch(live(OURS, entry), TAKE_OVER, FIELD_MANAGER)
    assert ops is not None
    assert [e["manager"] for e in ops[1]["value"]] == [FIELD_MANAGER]


@pytest.mark.parametrize(
    "entry",
    [
        STATUS,
        # `kubectl scale` writes the scale subresource: never taken.
        {**EDIT, "manager": "kubectl-scale", "subresource": "scale"},
        # The manager Flux documents for fields that must survive its applies.
        {**EDIT, "manager": "flux-client-side-apply"},
        {**EDIT, "manager": "helm", "operation": "Update"},
        {**EDIT, "manager": "kube-controller-manager", "operation": "Update"},
    ],
)
def test_other_managers_keep_their_fields(entry: dict[str, Any]) -> None:
    obj = live(OURS, entry)
    assert POLICY.others_fields(obj) == []
    assert take_over_patch(obj, TAKE_OVER, FIELD_MANAGER) is None


def test_without_an_entry_of_ours_the_first_match_becomes_ours() -> None:
    client_side = {**EDIT, "manager": "kubectl-client-side-apply"}
    obj = live(client_side, {**EDIT, "fieldsV1": {"f:spec": {"f:replicas": {}}}})
    ops = take_over_patch(obj, TAKE_OVER, FIELD_MANAGER)
    assert ops is not None
    (entry,) = patched(obj, ops)["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == (
        FIELD_MANAGER,
        "Apply",
        "apps/v1",
    )
    assert set(entry["fieldsV1"]["f:spec"]) == {"f:template", "f:replicas"}


def test_the_last_applied_annotation_is_removed() -> None:
    obj = live(OURS, annotations={LAST_APPLIED: "{}", "keep/me": "yes"})
    assert POLICY.others_fields(obj) == [LAST_APPLIED]
    ops = take_over_patch(obj, TAKE_OVER, FIELD_MANAGER, [LAST_APPLIED])
    assert ops is not None
    assert ops[-1] == {
        "op": "remove",
        "path": "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
    }
    after = patched(obj, ops)
    assert after["metadata"]["annotations"] == {"keep/me": "yes"}
    assert after["metadata"]["managedFields"] == [OURS], "no managedFields entry to move"


def test_a_clean_object_needs_no_patch() -> None:
    obj = live(OURS, STATUS, annotations={"a": "b"})
    assert take_over_patch(obj, TAKE_OVER, FIELD_MANAGER, [LAST_APPLIED]) is None


def test_manager_matches_by_prefix_operation_and_main_resource() -> None:
    kubectl = Manager("kubectl", "Update")
    assert kubectl.matches({"manager": "kubectl-rollout", "operation": "Update"})
    assert not kubectl.matches({"manager": "kubectl-rollout", "operation": "Apply"})
    assert not kubectl.matches(
        {"manager": "kubectl-edit", "operation": "Update", "subresource": "status"}
    )
    assert not kubectl.matches({"manager": "my-kubectl", "operation": "Update"})


def test_union_of_field_sets() -> None:
    a: dict[str, Any] = {"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:replicas": {}}}
    b: dict[str, Any] = {"f:metadata": {"f:labels": {"f:b": {}}, "f:annotations": {".": {}}}}
    assert union_fields(a, b) == {
        "f:metadata": {"f:labels": {"f:a": {}, "f:b": {}}, "f:annotations": {".": {}}},
        "f:spec": {"f:replicas": {}},
    }
    assert union_fields(a, {}) == a


def test_json_pointer_escapes() -> None:
    assert pointer("metadata", "annotations", "a/b~c") == "/metadata/annotations/a~1b~0c"


def test_event_names_the_taken_managers() -> None:
    obj = live(OURS, EDIT, {**EDIT, "manager": "kubectl-patch"}, annotations={LAST_APPLIED: "{}"})
    assert POLICY.taken_over(obj) == [
        f"metadata.managedFields: kubectl-edit, kubectl-patch → {FIELD_MANAGER}",
        f"metadata.annotations.{LAST_APPLIED}: present → absent",
    ]


# ---- how a correction reads ------------------------------------------------------------


def containers(*items: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": list(items)}}}}


def test_a_renamed_container_is_named() -> None:
    before = containers({"name": "web-renamed", "image": "nginx"})
    after = containers({"name": "web", "image": "nginx"})
    assert diff_paths(before, after) == [
        "spec.template.spec.containers[name=web-renamed]: present → absent",
        "spec.template.spec.containers[name=web]: absent → present",
    ]


def test_an_added_port_and_env_var_are_named() -> None:
    web = {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}
    edited = {
        **web,
        "ports": [{"containerPort": 80}, {"containerPort": 8080}],
        "env": [{"name": "DEBUG", "value": "1"}],
    }
    assert diff_paths(containers(edited), containers(web)) == [
        "spec.template.spec.containers[name=web].env[name=DEBUG]: present → absent",
        "spec.template.spec.containers[name=web].ports[containerPort=8080]: present → absent",
    ]


def test_scalars_and_unkeyed_lists() -> None:
    assert diff_paths({"spec": {"replicas": 5}}, {"spec": {"replicas": 2}}) == [
        "spec.replicas: 5 → 2"
    ]
    assert diff_paths({"args": ["a", "b"]}, {"args": ["a", "c"]}) == ["args[1]: 'b' → 'c'"]
    assert diff_paths({"args": ["a"]}, {"args": ["a", "c"]}) == ["args: list → list"]


def test_secret_values_are_never_shown() -> None:
    lines = diff_paths(
        {"data": {"password": "czNjcjN0"}, "type": "Opaque"},
        {"data": {"password": "bmV3"}, "type": "kubernetes.io/basic-auth"},
        secret=True,
    )
    assert lines == [
        "data.password: ****** → ******",
        "type: 'Opaque' → 'kubernetes.io/basic-auth'",
    ]
    assert not any("czNjcjN0" in line or "bmV3" in line for line in lines)

"""The pure parts of HelmRelease drift detection: the manifest's objects, where two
objects differ, ignore rules and their targets."""

from __future__ import annotations

from typing import Any, cast

import pytest

from kidp_gitops.api import helm as helm_api
from kidp_gitops.api import kustomize
from kidp_gitops.helm import drift
from kidp_gitops.kube import compare
from kidp_gitops.kube.ref import ObjRef
from kidp_gitops.kube.ssa import Plan

MANIFEST = """\
---
# Source: operators/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: op
spec:
  replicas: 3
---
# Source: operators/templates/empty.yaml
"""


def test_manifest_objects() -> None:
    (obj,) = drift.objects(MANIFEST)
    assert (obj["kind"], obj["metadata"]["name"]) == ("Deployment", "op")
    with pytest.raises(drift.DriftError):
        drift.objects("a: [unclosed")


def test_differences_are_json_pointers_without_values() -> None:
    live = {"spec": {"replicas": 1, "template": {"a/b": "x", "list": [1, 2]}}}
    want = {"spec": {"replicas": 3, "template": {"a/b": "y", "list": [1, 3]}}}
    assert list(compare.pointers(live, want)) == [
        "/spec/replicas",
        "/spec/template/a~1b",
        "/spec/template/list/1",
    ]
    assert list(compare.pointers({"l": [1]}, {"l": [1, 2]})) == ["/l"]
    assert list(compare.pointers(live, live)) == []


def test_describe_shows_at_most_five_pointers() -> None:
    op = ObjRef("ns", "op", "apps", "Deployment", "v1")
    live = {"spec": {f"f{i}": 0 for i in range(7)}}
    dry = {"spec": {f"f{i}": 1 for i in range(7)}}
    many = drift.Drift(Plan(op, {}, "/p", "update", live, dry))
    assert (
        many.describe()
        == "Deployment/ns/op changed at /spec/f0, /spec/f1, /spec/f2, /spec/f3, /spec/f4 and 2 more"
    )
    gone = drift.Drift(Plan(ObjRef("ns", "c", "", "ConfigMap", "v1"), {}, "/p", "create"))
    assert gone.describe() == "ConfigMap/ns/c is missing"


def test_ignored_paths_take_the_live_value() -> None:
    desired: dict[str, Any] = {"spec": {"replicas": 3, "paused": False}}
    live = {"spec": {"replicas": 2}}
    compare.take(desired, live, "/spec/replicas")
    compare.take(desired, live, "/spec/paused")  # not live: not applied either
    assert desired == {"spec": {"replicas": 2}}
    compare.remove(desired, "/spec/nothing/here")
    assert desired == {"spec": {"replicas": 2}}


def selector(**fields: str) -> kustomize.Selector:
    return kustomize.Selector.model_validate(fields)


@pytest.mark.parametrize(
    ("target", "selected"),
    [
        (None, True),
        (selector(kind="Deployment"), True),
        (selector(kind="Service"), False),
        (selector(group="apps", version="v1", name="op.*"), True),
        (selector(name="other"), False),
        (selector(namespace="n[s]"), True),
        (selector(labelSelector="tier=web"), True),
        (selector(labelSelector="tier!=web"), False),
        (selector(annotationSelector="note"), False),
        # Set-based, as Flux's (Kubernetes') parser reads them.
        (selector(labelSelector="tier in (web,api)"), True),
        (selector(labelSelector="tier notin (web), !canary"), False),
    ],
)
def test_ignore_targets(target: kustomize.Selector | None, selected: bool) -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "op", "namespace": "ns", "labels": {"tier": "web"}},
    }
    assert drift._selects(target, obj) is selected


async def test_an_ignore_rule_whose_selector_does_not_parse_fails_detection_naming_it() -> None:
    # Matching nothing, it would let drift correction overwrite the fields it names.
    rule = helm_api.IgnoreRule.model_validate(
        {"paths": ["/spec/replicas"], "target": {"labelSelector": "tier in (web"}}
    )
    with pytest.raises(drift.DriftError, match=r"ignore\[0\]\.target\.labelSelector"):
        await drift.detect(cast(Any, None), cast(Any, None), "", "r", "ns", [rule])

"""`holds`: whether a live object still has every value its manifest sets — what a
restarted engine checks instead of applying again."""

from __future__ import annotations

from typing import Any

from kidp_gitops.kustomize.drift import holds


def deployment(replicas: int, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx", **container}]}},
        },
    }


def test_defaults_and_fields_of_others_are_not_drift() -> None:
    live = deployment(2, terminationMessagePath="/dev/termination-log")
    live["metadata"]["labels"]["team"] = "x"
    live["metadata"]["resourceVersion"] = "42"
    live["status"] = {"replicas": 2}
    manifest = deployment(2)
    manifest["status"] = {"replicas": 9}  # never compared
    assert holds(manifest, live)


def test_a_changed_missing_or_added_value_is_drift() -> None:
    assert not holds(deployment(2), deployment(5))
    removed = deployment(2)
    del removed["metadata"]["labels"]
    assert not holds(deployment(2), removed)
    extra = deployment(2)
    extra["spec"]["template"]["spec"]["containers"].append({"name": "debug", "image": "busybox"})
    assert not holds(deployment(2), extra)
    assert not holds(deployment(2, image="nginx:1.27"), deployment(2))


def test_scalars_compare_by_value_not_by_truthiness() -> None:
    assert holds({"a": 1}, {"a": 1.0})
    assert not holds({"a": True}, {"a": 1})
    assert not holds({"a": "1"}, {"a": 1})
    assert holds({"a": None}, {})

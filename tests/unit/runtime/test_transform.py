"""Helm values merged as Flux's MergeMaps: maps at any depth, anything else replaces."""

from __future__ import annotations

from kidp_gitops.runtime import transform


def test_merge_is_deep_and_later_wins() -> None:
    base = {"image": {"repository": "a", "tag": "1"}, "replicaCount": 1, "list": [1, 2]}
    over = {"image": {"tag": "2"}, "list": [3]}
    assert transform.merge_maps(base, over) == {
        "image": {"repository": "a", "tag": "2"},
        "replicaCount": 1,
        "list": [3],
    }
    assert base["image"] == {"repository": "a", "tag": "1"}  # inputs untouched


def test_a_map_and_a_flat_value_replace_each_other() -> None:
    base = {"a": {"x": 1}, "b": 2, "c": {"y": 1}}
    over = {"a": "flat", "b": {"z": 3}, "c": None}
    assert transform.merge_maps(base, over) == {"a": "flat", "b": {"z": 3}, "c": None}

"""Composing a release's values: deep merge, targetPath, digests."""

from __future__ import annotations

import pytest

from kidp_gitops.helm import values


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("replicaCount", {"replicaCount": 4}),
        ("a.b.c", {"a": {"b": {"c": 4}}}),
        ("list[1].name", {"list": [None, {"name": 4}]}),
        (r"annotations.example\.com/x", {"annotations": {"example.com/x": 4}}),
    ],
)
def test_set_path(path: str, expected: dict[str, object]) -> None:
    target: dict[str, object] = {}
    values.set_path(target, path, 4)
    assert target == expected


def test_set_path_keeps_siblings_and_refuses_to_cross_a_scalar() -> None:
    target: dict[str, object] = {"a": {"keep": 1}, "s": "text"}
    values.set_path(target, "a.new", True)
    assert target["a"] == {"keep": 1, "new": True}
    values.set_path(target, "s.x", 1)  # a scalar on the way is replaced by a map
    assert target["s"] == {"x": 1}


def test_digest_ignores_key_order_only() -> None:
    assert values.digest({"a": 1, "b": {"c": 2}}) == values.digest({"b": {"c": 2}, "a": 1})
    assert values.digest({"a": 1}) != values.digest({"a": "1"})
    assert values.digest({}).startswith("sha256:")

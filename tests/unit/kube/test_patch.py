"""Merge patches carry only the difference, and nothing when nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

from kidp_gitops.kube.patch import merge_patch


def apply(doc: Any, patch: Any) -> Any:
    """RFC 7386 application, to check the patch really produces the new document."""
    if not isinstance(patch, dict):
        return patch
    out = dict(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = apply(out.get(key), value)
    return out


CASES = [
    ({"a": 1}, {"a": 1}, {}),
    ({"a": 1}, {"a": 2}, {"a": 2}),
    ({"a": 1, "b": 2}, {"a": 1}, {"b": None}),
    ({"s": {"x": 1, "y": 2}}, {"s": {"x": 1, "y": 3}}, {"s": {"y": 3}}),
    (
        {"c": [{"t": "Ready"}]},
        {"c": [{"t": "Ready"}, {"t": "X"}]},
        {"c": [{"t": "Ready"}, {"t": "X"}]},
    ),
    ({}, {"n": {"deep": True}}, {"n": {"deep": True}}),
    ({"d": {"k": 1}}, {"d": "scalar"}, {"d": "scalar"}),
]


@pytest.mark.parametrize(("old", "new", "expected"), CASES)
def test_merge_patch(old: Any, new: Any, expected: Any) -> None:
    patch = merge_patch(old, new)
    assert patch == expected
    assert apply(old, patch) == new

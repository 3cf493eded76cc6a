"""The diff's pure parts: server noise left out, Secret values never shown, no plan
against the wrong cluster."""

from __future__ import annotations

from typing import Any, cast

import pytest

from kidp_gitops.views import diff
from kidp_gitops.views.errors import ViewError


def secret(**data: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data}


def test_noise_is_not_a_difference() -> None:
    live = {
        "kind": "ConfigMap",
        "metadata": {"name": "c", "resourceVersion": "1", "managedFields": [{"manager": "a"}]},
        "data": {"a": "1"},
        "status": {"x": 1},
    }
    merged = {
        "kind": "ConfigMap",
        "metadata": {"name": "c", "resourceVersion": "2", "managedFields": [{"manager": "b"}]},
        "data": {"a": "1"},
    }
    assert diff.unified(live, merged) == []


def test_changed_fields_make_a_unified_diff() -> None:
    live = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    merged = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "3", "b": "2"}}
    lines = diff.unified(live, merged)
    assert lines[:2] == ["--- live", "+++ merged"]
    assert "-  a: '1'" in lines
    assert "+  a: '3'" in lines


def test_secret_values_are_masked() -> None:
    lines = diff.unified(secret(a="b2xk", same="c2FtZQ=="), secret(a="bmV3", same="c2FtZQ=="))
    text = "\n".join(lines)
    assert "b2xk" not in text
    assert "bmV3" not in text
    assert "c2FtZQ==" not in text
    assert "+  a: '****** (changed)'" in lines
    assert "-  a: '******'" in lines


def test_equal_secrets_show_no_diff() -> None:
    assert diff.unified(secret(a="eA=="), secret(a="eA==")) == []


async def test_a_remote_kustomization_is_not_diffed_against_this_cluster() -> None:
    """Planned here, every object of a Kustomization with kubeConfig would look new."""
    ks = {"spec": {"kubeConfig": {"secretRef": {"name": "remote"}}}}
    with pytest.raises(ViewError, match=r"remote cluster \(spec.kubeConfig\)"):
        await diff.planned(cast(Any, None), cast(Any, None), ks, [])

"""Merging Helm values, once: Flux's `MergeMaps` (fluxcd/pkg `runtime/transform`, after
Helm's own), which source-controller uses for a HelmChart's `valuesFiles` and
helm-controller for a release's `valuesFrom` and `values`; `kidp create helmrelease`
merges its `--values` files the same way.

    merged = transform.merge_maps(base, over)

Maps merge key by key, at any depth; anything else in `over` (a list, a scalar, a null)
replaces what `base` holds. Neither argument is changed.
"""

from __future__ import annotations

from typing import Any


def merge_maps(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` deep-merged into a copy of `base`."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_maps(out[key], value)
        else:
            out[key] = value
    return out

"""JSON merge patches (RFC 7386) computed from two versions of a document.

A writer that knows the old and the new state sends only the difference, and sends
nothing at all when there is none: an unchanged object is never written.
"""

from __future__ import annotations

from typing import Any


def merge_patch(old: Any, new: Any) -> Any:
    """The merge patch that turns `old` into `new` ({} when they are equal). Lists are
    replaced whole, as merge patches replace them; removed keys become null."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            if isinstance(old[key], dict) and isinstance(value, dict):
                patch[key] = merge_patch(old[key], value)
            else:
                patch[key] = value
    for key in old:
        if key not in new:
            patch[key] = None
    return patch

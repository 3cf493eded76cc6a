"""JSON merge patches (RFC 7386) computed from two versions of a document.

A writer that knows the old and the new state sends only the difference, and sends
nothing at all when there is none: an unchanged object is never written.

`take_over_patch` builds the other kind of patch here, a JSON patch (RFC 6902) on
`metadata.managedFields`: it hands the fields of other field managers (kubectl's, say)
to one owner before that owner applies, so its server-side apply may remove them. It is
guarded by a test of the resourceVersion the entries were read at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal


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


@dataclass(frozen=True)
class Manager:
    """Entries of `metadata.managedFields` to take over: the manager's name starts with
    `prefix` (`kubectl` matches kubectl-edit, kubectl-patch, kubectl-client-side-apply…)
    and its operation is `operation`. Entries of a subresource (status, scale) never match."""

    prefix: str
    operation: Literal["Apply", "Update"]

    def matches(self, entry: dict[str, Any]) -> bool:
        return (
            str(entry.get("manager", "")).startswith(self.prefix)
            and entry.get("operation") == self.operation
            and not entry.get("subresource")
        )


def take_over_patch(
    obj: dict[str, Any],
    managers: Sequence[Manager],
    owner: str,
    annotations: Sequence[str] = (),
) -> list[dict[str, Any]] | None:
    """The JSON patch that gives `owner` (as an Apply entry) every field the matching
    `managers` hold in `obj`, and removes the listed `annotations`; None when `obj` has
    neither. The patch first tests `metadata.resourceVersion`, so it fails (422) rather
    than overwrite entries written since `obj` was read."""
    meta = obj.get("metadata") or {}
    entries: list[dict[str, Any]] = list(meta.get("managedFields") or [])
    present = meta.get("annotations") or {}
    dropped = [key for key in annotations if key in present]

    def own(entry: dict[str, Any]) -> bool:
        return (
            entry.get("manager") == owner
            and entry.get("operation") == "Apply"
            and not entry.get("subresource")
        )

    taken = [e for e in entries if not own(e) and any(m.matches(e) for m in managers)]
    if not taken and not dropped:
        return None
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")}
    ]
    if taken:
        mine = next((e for e in entries if own(e)), None)
        merged = dict(mine or {**taken[0], "manager": owner, "operation": "Apply"})
        fields: Any = merged.get("fieldsV1") or {}
        for entry in taken:
            fields = union_fields(fields, entry.get("fieldsV1") or {})
        merged["fieldsV1"] = fields
        kept = [e for e in entries if e is not mine and not any(e is t for t in taken)]
        ops.append({"op": "replace", "path": "/metadata/managedFields", "value": [*kept, merged]})
    ops += [{"op": "remove", "path": pointer("metadata", "annotations", key)} for key in dropped]
    return ops


def union_fields(a: Any, b: Any) -> Any:
    """The union of two `fieldsV1` sets (tries of `f:`/`k:`/`v:`/`i:` keys, leaves `{}`)."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return a if isinstance(a, dict) else b
    out = dict(a)
    for key, value in b.items():
        out[key] = union_fields(out[key], value) if key in out else value
    return out


def pointer(*parts: str) -> str:
    """A JSON pointer (RFC 6901) to the path `parts`: `/` and `~` escaped."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)

"""`status.inventory` in Flux's entry format, the diff that decides what to prune, and
the digest of what was applied (`status.lastAppliedDigest`).

An entry is `{"id": "<namespace>_<name>_<group>_<kind>", "v": "<version>"}`; the
namespace is empty for cluster-scoped objects and the group for the core API. Objects
applied by Flux before are therefore recognised by us, and the other way round.

The inventory is a promise about the cluster: every object in it may exist and carry
our owner labels. It therefore grows before an apply creates objects it does not list,
and shrinks only when a prune confirmed an object gone — a prune that fails, or a
process that dies between apply and prune, leaves the stale entries in place for the
next reconcile to prune.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import orjson

from kidp_gitops.api import kustomize as api
from kidp_gitops.kube.ref import ObjRef, ref_of

__all__ = [
    "ObjRef",
    "digest",
    "entries",
    "from_status",
    "of",
    "parse_entry",
    "recorded",
    "ref_of",
    "same_objects",
    "stale",
    "union",
]


def parse_entry(entry: dict[str, str]) -> ObjRef:
    # Namespaces, groups and kinds never hold '_', so the namespace is everything before
    # the first, group and kind what follows the last two; the name is the rest. Flux
    # writes a name's colons (RBAC: `system:auth-delegator`) as `__`. A name with a
    # single '_' (which the API server refuses for most kinds: an object that a failed
    # apply never created) is read as it is, rather than wedging every later reconcile.
    namespace, _, rest = entry["id"].partition("_")
    parts = rest.rsplit("_", 2)
    if len(parts) != 3 or not parts[0] or not parts[2]:
        raise ValueError(f"inventory entry {entry['id']!r} is not namespace_name_group_kind")
    name, group, kind = parts
    return ObjRef(namespace, name.replace("__", ":"), group, kind, entry.get("v", ""))


def entries(refs: list[ObjRef]) -> list[dict[str, str]]:
    return [{"id": r.id, "v": r.version} for r in sorted(refs)]


def from_status(status: dict[str, Any]) -> list[ObjRef]:
    inventory = status.get("inventory") or {}
    return [parse_entry(e) for e in inventory.get("entries") or []]


def of(recorded: api.ResourceInventory | None) -> list[ObjRef]:
    """The objects a typed `status.inventory` lists."""
    if recorded is None:
        return []
    return [parse_entry({"id": e.id, "v": e.v}) for e in recorded.entries]


def recorded(refs: list[ObjRef]) -> api.ResourceInventory:
    """`refs` as a typed `status.inventory`, in the order `entries` writes them."""
    return api.ResourceInventory(
        entries=[api.ResourceRef(id=r.id, v=r.version) for r in sorted(refs)]
    )


def stale(previous: list[ObjRef], current: list[ObjRef]) -> list[ObjRef]:
    """What the last inventory had that the new one has not: the objects to prune."""
    keep = {r.key() for r in current}
    return [r for r in previous if r.key() not in keep]


def union(first: list[ObjRef], second: list[ObjRef]) -> list[ObjRef]:
    """Both lists, one entry per object (the version of `second` wins)."""
    merged = {r.key(): r for r in first}
    merged.update({r.key(): r for r in second})
    return list(merged.values())


def same_objects(first: list[ObjRef], second: list[ObjRef]) -> bool:
    return {r.key() for r in first} == {r.key() for r in second}


def digest(manifests: list[dict[str, Any]]) -> str:
    """sha256 of the objects as they are applied (rendered and labelled), in a stable
    order. The values of Secrets are left out — the status must carry nothing derived
    from them; a Secret whose value alone changed is found by comparing it with the
    live object instead (see `DriftTracker.adopt`)."""
    hasher = hashlib.sha256()
    for obj in sorted(manifests, key=ref_of):
        hasher.update(orjson.dumps(_without_secret_values(obj), option=orjson.OPT_SORT_KEYS))
        hasher.update(b"\n")
    return "sha256:" + hasher.hexdigest()


def _without_secret_values(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") != "Secret" or obj.get("apiVersion") != "v1":
        return obj
    out = copy.copy(obj)
    for field in ("data", "stringData"):
        if isinstance(out.get(field), dict):
            out[field] = sorted(out[field])
    return out

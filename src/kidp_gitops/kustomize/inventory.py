"""`status.inventory` in Flux's entry format, and the diff that decides what to prune.

An entry is `{"id": "<namespace>_<name>_<group>_<kind>", "v": "<version>"}`; the
namespace is empty for cluster-scoped objects and the group for the core API. Objects
applied by Flux before are therefore recognised by us, and the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class ObjRef:
    namespace: str
    name: str
    group: str
    kind: str
    version: str = ""

    @property
    def id(self) -> str:
        return f"{self.namespace}_{self.name}_{self.group}_{self.kind}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{where}{self.name}"

    def key(self) -> tuple[str, str, str, str]:
        """Identity without the version: a new apiVersion is the same object."""
        return (self.namespace, self.name, self.group, self.kind)


def ref_of(obj: dict[str, Any]) -> ObjRef:
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    meta = obj.get("metadata") or {}
    return ObjRef(meta.get("namespace") or "", meta["name"], group, str(obj["kind"]), version)


def parse_entry(entry: dict[str, str]) -> ObjRef:
    # No part can hold '_' (names, namespaces, groups and kinds never do), so the id
    # splits into exactly four.
    parts = entry["id"].split("_")
    if len(parts) != 4:
        raise ValueError(f"inventory entry {entry['id']!r} is not namespace_name_group_kind")
    namespace, name, group, kind = parts
    return ObjRef(namespace, name, group, kind, entry.get("v", ""))


def entries(refs: list[ObjRef]) -> list[dict[str, str]]:
    return [{"id": r.id, "v": r.version} for r in sorted(refs)]


def from_status(status: dict[str, Any]) -> list[ObjRef]:
    inventory = status.get("inventory") or {}
    return [parse_entry(e) for e in inventory.get("entries") or []]


def stale(previous: list[ObjRef], current: list[ObjRef]) -> list[ObjRef]:
    """What the last inventory had that the new one has not: the objects to prune."""
    keep = {r.key() for r in current}
    return [r for r in previous if r.key() not in keep]

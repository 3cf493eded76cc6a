"""Which object: group, kind, namespace and name (the version rides along, since a new
apiVersion is the same object). The identity the resource manager plans and reports
by, and the one a Kustomization's inventory lists."""

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
        name = self.name.replace(":", "__")  # as Flux writes it
        return f"{self.namespace}_{name}_{self.group}_{self.kind}"

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

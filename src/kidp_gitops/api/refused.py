"""Fields our CRDs accept (Flux's schemas have them) but kidp does not implement yet.

Accepting such a field and going on would tell the user in the status that all is well
while the cluster differs from what was asked: `kubeConfig` ignored means the objects
meant for a remote cluster land on this one. So an object that sets one is refused as a
whole — Stalled, reason `UnsupportedField`, the message naming the field — by every
controller (`runtime.lifecycle`) and by `kidp validate`, from this one table.

    refused_fields(kind, obj) -> list[Refused]     the refused fields `obj` sets
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

UNSUPPORTED_FIELD = "UnsupportedField"

_REMOTE = (
    "applying to a remote cluster is not implemented yet, and nothing meant for another "
    "cluster may reach this one"
)


@dataclass(frozen=True)
class Refused:
    path: str
    """Dotted path of the field in the object, as a user writes it (`spec.kubeConfig`)."""
    why: str

    def message(self) -> str:
        return f"{self.path} is set, but kidp-gitops does not support it: {self.why}"


FIELDS: dict[str, tuple[Refused, ...]] = {
    "Kustomization": (Refused("spec.kubeConfig", _REMOTE),),
    "HelmRelease": (Refused("spec.kubeConfig", _REMOTE),),
    "OCIRepository": (
        Refused("spec.verify", "signature verification (cosign, notation) is not implemented"),
        Refused("spec.proxySecretRef", "a proxy for registries is not implemented"),
    ),
}


def refused_fields(kind: str, obj: dict[str, Any]) -> list[Refused]:
    """The refused fields of `kind` that `obj` (as JSON) sets to something."""
    return [r for r in FIELDS.get(kind, ()) if _is_set(obj, r.path.split("."))]


def _is_set(value: Any, path: list[str]) -> bool:
    for part in path:
        if not isinstance(value, dict) or value.get(part) is None:
            return False
        value = value[part]
    return True

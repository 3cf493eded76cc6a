"""A diff preview: what the Kustomization controller would do with objects rendered from
a change that is not merged yet, object by object, as it would do it.

`planned` asks the resource manager for its plan under the controller's policy — the
very plan the controller executes: a server-side dry run with its field manager, owner
labels, `ssa` and `force` annotations, protection and `spec.force`, compared with the
live object — and turns each step into a `Change` with a unified diff of what the API
server would store (none of the noise: managedFields, resourceVersion, status). Secret
values never appear: a changed value shows as `****** (changed)`. `pruned` lists what
`spec.prune` would delete. Rendering the change is the caller's (`kidp diff` renders a
local directory); showing it too.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import yaml

from kidp_gitops.views.errors import ViewError

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient, RestMapper

JSON = dict[str, Any]
Action = Literal["created", "drifted", "recreated", "unchanged", "deleted", "skipped", "protected"]
MASK = "******"


@dataclass(frozen=True)
class Change:
    id: str
    action: Action
    diff: list[str] = field(default_factory=list)


def mask_secrets(live: JSON, merged: JSON) -> tuple[JSON, JSON]:
    """Secret values replaced: equal ones by the mask, changed ones marked changed."""
    if merged.get("kind") != "Secret" or merged.get("apiVersion") != "v1":
        return live, merged
    live, merged = copy.deepcopy(live), copy.deepcopy(merged)
    for key in ("data", "stringData"):
        before, after = live.get(key) or {}, merged.get(key) or {}
        for name in set(before) | set(after):
            changed = before.get(name) != after.get(name)
            if name in before:
                before[name] = MASK
            if name in after:
                after[name] = f"{MASK} (changed)" if changed and name in before else MASK
    return live, merged


def unified(live: JSON, merged: JSON) -> list[str]:
    """A unified diff of two objects' YAML; empty when they are equal."""
    from kidp_gitops.kube.compare import comparable

    live, merged = mask_secrets(comparable(live), comparable(merged))
    if live == merged:
        return []
    before = yaml.safe_dump(live, sort_keys=True).splitlines()
    after = yaml.safe_dump(merged, sort_keys=True).splitlines()
    return list(difflib.unified_diff(before, after, "live", "merged", n=2, lineterm=""))


STEPS: dict[str, Action] = {
    "create": "created",
    "update": "drifted",
    "recreate": "recreated",
    "unchanged": "unchanged",
    "skip": "skipped",
    "protected": "protected",
}
CHANGES = ("created", "drifted", "recreated", "deleted")
"""What the controller would do to the cluster: any of them makes the exit code 1."""


async def planned(
    client: KubeClient, mapper: RestMapper, ks: JSON, objects: list[JSON]
) -> list[Change]:
    """What the controller would do with `objects`: the resource manager's plan under the
    Kustomization's own policy (`spec.force` included), as the controller plans it."""
    from kidp_gitops.kube import KubeError
    from kidp_gitops.kustomize import apply

    if (ks.get("spec") or {}).get("kubeConfig"):
        # Planned against this cluster, every object would look new: refuse instead.
        raise ViewError(
            "this Kustomization applies to a remote cluster (spec.kubeConfig); a diff "
            "against that cluster is not implemented"
        )
    manager = apply.manager(client, mapper, force=bool((ks.get("spec") or {}).get("force")))
    try:
        plans = await manager.plan(objects, ahead=True)
    except KubeError as err:
        raise ViewError(str(err)) from err
    out = []
    for plan in plans:
        lines: list[str] = []
        if plan.live is not None and plan.dry is not None:
            lines = unified(plan.live, plan.dry)
            if plan.take_over or plan.taken:
                lines += [f"# {taken}" for taken in manager.policy.taken_over(plan.live)]
        elif plan.step == "recreate":
            lines = [f"# {plan.note}", "# deleted, then created again (force)"]
        out.append(Change(str(plan.ref), STEPS[plan.step], lines))
    return out


def pruned(ks: JSON, objects: list[JSON]) -> list[Change]:
    """What the controller would prune: in the inventory, no longer built."""
    from kidp_gitops.kustomize import inventory

    if not (ks.get("spec") or {}).get("prune"):
        return []
    previous = inventory.from_status(ks.get("status") or {})
    current = [inventory.ref_of(o) for o in objects]
    return [Change(str(r), "deleted") for r in inventory.stale(previous, current)]

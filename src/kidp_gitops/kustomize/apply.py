"""How a Kustomization's objects are applied: Flux's kustomize-controller's policy for
the resource manager (`kube.ssa`), which plans (dry run + compare: no write for
what did not change) and applies in stages.

Objects carry the owner labels `kustomize.toolkit.fluxcd.io/name|namespace` and are
applied with Flux's field manager, so objects Flux applied before are taken over
without conflicts. Per-object annotations steer the apply:

    kustomize.toolkit.fluxcd.io/ssa: Override (default) | Merge | IfNotPresent | Ignore
    kustomize.toolkit.fluxcd.io/force: enabled   recreate when an immutable field changed
    kustomize.toolkit.fluxcd.io/reconcile: disabled (or Flux v1's
    flux.weave.works/ignore: "true")             protected: created, never changed

Before applying an existing object (Override), the fields that kubectl's managers own
(`kubectl edit`, `patch`, `apply`…) are handed to our field manager and kubectl's
last-applied annotation is dropped, as Flux does: the apply then removes what a person
added by hand — a renamed container, a new port — instead of keeping it beside Git's.
Merge keeps those fields.
"""

from __future__ import annotations

import copy

from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.kube.patch import Manager
from kidp_gitops.kube.ssa import Policy, ResourceManager

FIELD_MANAGER = "kustomize-controller"
GROUP = "kustomize.toolkit.fluxcd.io"
OWNER_NAME = f"{GROUP}/name"
OWNER_NAMESPACE = f"{GROUP}/namespace"
SSA = f"{GROUP}/ssa"
FORCE = f"{GROUP}/force"
# Objects a person protected from the engine: created when missing, never changed; their
# drift is reported instead. The first is Flux v1's annotation, the PRD's.
PROTECTED = (("flux.weave.works/ignore", "true"), (f"{GROUP}/reconcile", "disabled"))
# Whose fields an Override apply takes over first (Flux's list): every kubectl command
# (kubectl-edit, kubectl-patch, kubectl-client-side-apply… as Update; `kubectl apply
# --server-side` as Apply), the placeholder for fields set before the first server-side
# apply, and our own non-apply writes. Other controllers' fields stay theirs.
TAKE_OVER = (
    Manager("kubectl", "Update"),
    Manager("kubectl", "Apply"),
    Manager("before-first-apply", "Update"),
    Manager(FIELD_MANAGER, "Update"),
)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def policy(*, force: bool = False) -> Policy:
    """The policy of a Kustomization; `force` is its `spec.force`."""
    return Policy(
        field_manager=FIELD_MANAGER,
        take_over=TAKE_OVER,
        drop_annotations=(LAST_APPLIED,),
        mode_annotation=SSA,
        recreate_annotation=FORCE,
        recreate=force,
        protected=PROTECTED,
    )


POLICY = policy()


def manager(client: KubeClient, mapper: RestMapper, *, force: bool = False) -> ResourceManager:
    return ResourceManager(client, mapper, policy(force=force))


def with_owner(obj: JSON, name: str, namespace: str) -> JSON:
    out = copy.deepcopy(obj)
    labels = out.setdefault("metadata", {}).setdefault("labels", {})
    labels[OWNER_NAME] = name
    labels[OWNER_NAMESPACE] = namespace
    return out

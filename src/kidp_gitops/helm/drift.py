"""Drift of a release: the objects of its manifest, as Helm stored it, against the cluster.

    await detect(client, mapper, manifest, release, namespace, ignore) -> list[Drift]
    await correct(client, mapper, drifts) -> None              re-applies them

The resource manager (`kube.ssa`) plans each object of the release manifest, as it
plans a Kustomization's, under Helm's policy. One that is gone has
drifted (correcting creates it from the manifest). One that is there is compared with a
server-side apply dry-run of the manifest's object under Helm's own field manager
(`helm`, forced): if the dry-run would change anything, a person or another controller
changed a field the chart sets. Each object carries what Helm adds when it applies and
the stored manifest lacks: the `app.kubernetes.io/managed-by: Helm` label and the
`meta.helm.sh/release-name` and `-namespace` annotations. Status and bookkeeping
metadata are left out of the compare. At the `ignore` rules' JSON pointers the applied
object carries the live values, so those fields neither count as drift nor change when
drift is corrected (and Helm does not give them up). Correcting applies that object for
real, under the same field manager, so Helm keeps owning its fields and the next
`helm upgrade` meets no conflict.

A drift names the object and the JSON pointers that differ, never a value: a release
holds Secrets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import yaml

from kidp_gitops.api import helm as api
from kidp_gitops.kube import selectors
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import KubeError
from kidp_gitops.kube.mapper import RestMapper, UnknownKind
from kidp_gitops.kube.ssa import Plan, Policy, ResourceManager

HELM_FIELD_MANAGER = "helm"
"""The field manager helm v4 applies with (its program's name)."""
MANAGED_BY = ("app.kubernetes.io/managed-by", "Helm")
RELEASE_NAME_ANNOTATION = "meta.helm.sh/release-name"
RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
MAX_POINTERS = 5


class DriftError(Exception):
    """The release's objects could not be read or compared; the message says which."""


# Helm applies under its own name; no annotation steers it, nothing is taken over.
POLICY = Policy(field_manager=HELM_FIELD_MANAGER)


@dataclass(frozen=True)
class Drift:
    plan: Plan
    """The resource manager's plan for the object: what correcting applies."""

    @property
    def missing(self) -> bool:
        return self.plan.live is None

    @property
    def pointers(self) -> tuple[str, ...]:
        return tuple(self.plan.pointers())

    def describe(self) -> str:
        if self.missing:
            return f"{self.plan.ref} is missing"
        pointers = self.pointers
        shown = ", ".join(pointers[:MAX_POINTERS])
        more = len(pointers) - MAX_POINTERS
        return f"{self.plan.ref} changed at {shown}" + (f" and {more} more" if more > 0 else "")


def objects(manifest: str) -> list[JSON]:
    """The objects of a release manifest (Helm joins them with '---')."""
    try:
        docs = list(yaml.safe_load_all(manifest))
    except yaml.YAMLError as err:
        raise DriftError("the stored release manifest is not valid YAML") from err
    return [d for d in docs if isinstance(d, dict) and d.get("kind")]


async def detect(
    client: KubeClient,
    mapper: RestMapper,
    manifest: str,
    release: str,
    namespace: str,
    ignore: list[api.IgnoreRule],
) -> list[Drift]:
    _check_selectors(ignore)
    desired = [await _as_applied(mapper, obj, release, namespace) for obj in objects(manifest)]

    def ignored(obj: JSON) -> list[str]:
        return [p for rule in ignore if _selects(rule.target, obj) for p in rule.paths]

    manager = ResourceManager(client, mapper, replace(POLICY, keep_live=ignored))
    try:
        plans = await manager.plan(desired)
    except KubeError as err:
        raise DriftError(f"could not compare: {err}") from err
    return [Drift(p) for p in plans if p.step != "unchanged"]


async def correct(client: KubeClient, mapper: RestMapper, drifts: list[Drift]) -> None:
    try:
        await ResourceManager(client, mapper, POLICY).execute([d.plan for d in drifts])
    except KubeError as err:
        raise DriftError(f"could not correct: {err}") from err


async def _as_applied(mapper: RestMapper, obj: JSON, release: str, namespace: str) -> JSON:
    """The manifest's object as Helm applies it: its labels and annotations, and the
    release's namespace when it is namespaced and names none."""
    meta = obj.setdefault("metadata", {})
    key, value = MANAGED_BY
    meta["labels"] = {**(meta.get("labels") or {}), key: value}
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        RELEASE_NAME_ANNOTATION: release,
        RELEASE_NAMESPACE_ANNOTATION: namespace,
    }
    try:
        resource = await mapper.resource_for(obj)
    except UnknownKind as err:
        raise DriftError(f"unknown kind {obj.get('apiVersion')}/{obj['kind']}") from err
    if resource.namespaced:
        meta["namespace"] = meta.get("namespace") or namespace
    return obj


def _check_selectors(ignore: list[api.IgnoreRule]) -> None:
    """A selector of an ignore rule that does not parse fails the detection, naming
    it: matching nothing, it would leave the fields it names corrected."""
    for index, rule in enumerate(ignore):
        target = rule.target
        if target is None:
            continue
        for field, said in (
            ("labelSelector", target.label_selector),
            ("annotationSelector", target.annotation_selector),
        ):
            try:
                selectors.check(said)
            except selectors.InvalidSelector as err:
                path = f"spec.driftDetection.ignore[{index}].target.{field}"
                raise DriftError(f"{path}: {err}") from None


def _selects(target: Any, obj: JSON) -> bool:
    """Whether an ignore rule's target (a kustomize selector) selects `obj`; no target
    selects everything. Group, version and kind match exactly, name and namespace as
    regular expressions; label and annotation selectors as Kubernetes parses them
    (`kube.selectors`: equality, sets, existence)."""
    if target is None:
        return True
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    meta = obj.get("metadata") or {}
    checks = [
        (target.group, group, False),
        (target.version, version, False),
        (target.kind, obj.get("kind"), False),
        (target.name, meta.get("name"), True),
        (target.namespace, meta.get("namespace"), True),
    ]
    for wanted, actual, regex in checks:
        if wanted is None:
            continue
        if regex and not re.fullmatch(wanted, str(actual or "")):
            return False
        if not regex and wanted != actual:
            return False
    return selectors.matches(target.label_selector, meta.get("labels")) and selectors.matches(
        target.annotation_selector, meta.get("annotations")
    )

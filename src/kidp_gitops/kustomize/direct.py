"""Plain manifests read without starting kustomize, giving what kustomize would give.

For a directory of plain YAML and an overlay that writes nothing into the kustomization,
kustomize only splits documents, drops empty ones, flattens `*List` kinds, normalises
scalars through JSON and sorts objects in its legacy order. `read` does the same in
process. Whenever a file holds anything whose result only kustomize can decide (a
sub-kustomization, YAML it would reject or rewrite, a duplicate object, an unusual sort
case) `read` raises `NeedsKustomize` and the caller builds the usual way, so the answer,
or the error, is always kustomize's.
"""

from __future__ import annotations

from typing import Any

from kidp_gitops.kustomize import kustomization


class NeedsKustomize(Exception):
    """Only kustomize can give this directory's result; the message says why."""


_ORDER_FIRST = (
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
)
_ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
_RANK = {
    **{kind: i - len(_ORDER_FIRST) for i, kind in enumerate(_ORDER_FIRST)},
    **{kind: i + 1 for i, kind in enumerate(_ORDER_LAST)},
}
_INTERNAL_ANNOTATIONS = ("config.kubernetes.io/", "internal.config.kubernetes.io/")


def read(scan: kustomization.Scan) -> list[dict[str, Any]]:
    """The objects of the generated kustomization for `scan`, in kustomize's order."""
    objects: list[dict[str, Any]] = []
    for entry in scan.entries:
        if isinstance(entry, str):
            raise NeedsKustomize(f"{entry} holds a kustomization")
        if not entry.is_manifest:
            continue  # generation leaves it out
        docs = entry.documents
        if docs is None:
            raise NeedsKustomize(f"{entry.entry}: only kustomize reads it faithfully")
        objects.extend(_flatten(docs, entry.entry))
    _check_unique(objects)
    return sorted(objects, key=_legacy_order)


def _flatten(docs: list[Any], where: str) -> list[dict[str, Any]]:
    """Documents to objects, with `*List` items moved to the end as kustomize does."""
    queue = list(docs)
    objects: list[dict[str, Any]] = []
    while queue:
        doc = queue.pop(0)
        if not isinstance(doc, dict):
            raise NeedsKustomize(f"{where}: a document is not a mapping")
        kind = doc.get("kind")
        if isinstance(kind, str) and kind.endswith("List"):
            items = doc.get("items", ...)
            if items is ... or not isinstance(items, list | None):
                raise NeedsKustomize(f"{where}: {kind} without an items list")
            queue.extend(items or [])
            continue
        _check_object(doc, where)
        objects.append(doc)
    return objects


def _check_object(doc: dict[str, Any], where: str) -> None:
    kind = doc.get("kind")
    metadata = doc.get("metadata")
    if not isinstance(kind, str) or not kind or not isinstance(metadata, dict):
        raise NeedsKustomize(f"{where}: an object without kind or metadata")
    if not isinstance(doc.get("apiVersion", ""), str):
        raise NeedsKustomize(f"{where}: apiVersion is not a string")
    if not isinstance(metadata.get("name"), str) or not metadata["name"]:
        raise NeedsKustomize(f"{where}: an object without a name")
    if not isinstance(metadata.get("namespace", ""), str):
        raise NeedsKustomize(f"{where}: namespace is not a string")
    for field in ("labels", "annotations"):
        if field in metadata and not isinstance(metadata[field], dict):
            raise NeedsKustomize(f"{where}: metadata.{field} is not a mapping")
    if any(key.startswith(_INTERNAL_ANNOTATIONS) for key in metadata.get("annotations", {})):
        raise NeedsKustomize(f"{where}: kustomize's own annotations")
    if _group(doc) == "kustomize.config.k8s.io" or (kind == "Namespace" and _group(doc)):
        raise NeedsKustomize(f"{where}: {kind} of group {_group(doc)}")


def _group(doc: dict[str, Any]) -> str:
    group, _, _ = str(doc.get("apiVersion", "")).rpartition("/")
    return group


def _check_unique(objects: list[dict[str, Any]]) -> None:
    """kustomize refuses two objects with one id ("" and "default" namespaces are equal)."""
    seen: set[tuple[str, str, str, str]] = set()
    for obj in objects:
        metadata = obj["metadata"]
        key = (_group(obj), obj["kind"], metadata.get("namespace") or "default", metadata["name"])
        if key in seen:
            raise NeedsKustomize(f"two objects {obj['kind']}/{metadata['name']}")
        seen.add(key)


def _legacy_order(obj: dict[str, Any]) -> tuple[int, str, str]:
    """kustomize's legacy sort: kind rank, then group_version_kind, then namespace|name."""
    api_version = str(obj.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    kind = obj["kind"]
    gvk = "_".join((group or "~G", version or "~V", kind))
    metadata = obj["metadata"]
    return (_RANK.get(kind, 0), gvk, f"{metadata.get('namespace') or '~X'}|{metadata['name']}")

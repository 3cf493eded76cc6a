"""Builds that need no kustomize program, read in process with kustomize's result.

Two layouts cover most repositories, and for both kustomize does nothing but read files:

- a directory of plain YAML with no kustomization file (Flux generates one listing the
  files), and
- a kustomization that lists only local `resources:` (files, and directories whose own
  kustomization is again resources-only), with nothing that transforms: no namespace,
  patches, generators, components, images, labels, and so on.

For these kustomize splits documents, drops empty ones, flattens `*List` kinds,
normalises scalars through JSON (sorting every mapping's keys), refuses two objects with
one id and sorts the objects in its legacy order. `read` (a generated kustomization) and
`read_kustomization` (a directory's own) do the same in process. Whenever anything's
result only kustomize can decide (another kustomization field, YAML it would reject or
rewrite, a missing or doubly listed file, a duplicate object, a cycle) they raise
`NeedsKustomize` and the caller builds the usual way, so the answer, or the error, is
always kustomize's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from kidp_gitops.goyaml import yamlio
from kidp_gitops.render import kustomization, reading


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


def read(scan: kustomization.Scan, directory: Path, root: Path) -> list[dict[str, Any]]:
    """The objects of the generated kustomization for `scan` (the walk of `directory`),
    in kustomize's order. `directory` and `root` are real paths."""
    reader = _Reader(root)
    objects: list[dict[str, Any]] = []
    for entry in scan.entries:
        if isinstance(entry, str):
            objects.extend(reader.directory(Path(os.path.join(directory, entry)), ()))
            continue
        if not entry.is_manifest:
            continue  # generation leaves it out
        docs = entry.documents
        if docs is None:
            raise NeedsKustomize(f"{entry.entry}: only kustomize reads it faithfully")
        objects.extend(_flatten(docs, entry.entry))
    return _output(objects)


def read_kustomization(directory: Path, root: Path) -> list[dict[str, Any]]:
    """The objects kustomize builds from `directory`, whose kustomization must list only
    local resources (see the module docstring), in kustomize's order. `directory` and
    `root` are real paths."""
    return _output(_Reader(root).directory(directory, ()))


def _output(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """kustomize's output: unique ids, its legacy order, and every mapping's keys sorted
    (each object goes through a Go map on its way to JSON)."""
    _check_unique(objects)
    return [_sort_keys(obj) for obj in sorted(objects, key=_legacy_order)]


def _sort_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sort_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sort_keys(item) for item in value]
    return value


_PLAIN_FIELDS = frozenset({"apiVersion", "kind", "resources"})


class _Reader:
    """Follows resources-only kustomizations down from one directory, reading each file
    once (kustomize refuses a file listed twice: its objects would collide)."""

    def __init__(self, root: Path):
        self.root = root
        self.read: set[Path] = set()

    def directory(self, directory: Path, stack: tuple[Path, ...]) -> list[dict[str, Any]]:
        if directory in stack:
            raise NeedsKustomize(f"{self.where(directory)}: a cycle of kustomizations")
        names = kustomization.present(directory)
        if len(names) != 1:
            raise NeedsKustomize(f"{self.where(directory)}: {len(names)} kustomization files")
        where = self.where(directory / names[0])
        real = Path(os.path.realpath(directory / names[0]))
        if real != self.root and self.root not in real.parents:
            raise NeedsKustomize(f"{where} leads out of the artifact")
        resources = self.resources(real, where)
        objects: list[dict[str, Any]] = []
        for entry in resources:
            objects.extend(self.entry(directory, entry, where, (*stack, directory)))
        return objects

    def resources(self, file: Path, where: str) -> list[str]:
        """The resources of a kustomization that lists nothing else."""
        try:
            docs = yamlio.load_manifests(reading.read(file, where), strict=True)
        except (OSError, yaml.YAMLError, yamlio.Unsupported) as err:
            raise NeedsKustomize(f"{where}: only kustomize reads it faithfully") from err
        if len(docs) != 1 or not isinstance(docs[0], dict):
            raise NeedsKustomize(f"{where}: not one mapping")
        doc = docs[0]
        extra = set(doc) - _PLAIN_FIELDS
        if extra:
            raise NeedsKustomize(f"{where}: {', '.join(sorted(extra))}")
        if doc.get("apiVersion", kustomization.API_VERSION) != kustomization.API_VERSION:
            raise NeedsKustomize(f"{where}: apiVersion {doc['apiVersion']!r}")
        if doc.get("kind", "Kustomization") != "Kustomization":
            raise NeedsKustomize(f"{where}: kind {doc['kind']!r}")
        resources = doc.get("resources")
        if not isinstance(resources, list) or not resources:
            raise NeedsKustomize(f"{where}: no resources list")
        for entry in resources:
            # kustomize reads this file with YAML 1.1, where `on` or `1.0` is no string.
            if not isinstance(entry, str) or not isinstance(
                yamlio.resolve_plain(entry or "-", v2=True), str
            ):
                raise NeedsKustomize(f"{where}: resources entry {entry!r}")
        return resources

    def entry(
        self, directory: Path, entry: str, where: str, stack: tuple[Path, ...]
    ) -> list[dict[str, Any]]:
        if kustomization.is_remote(entry) or os.path.isabs(entry):
            raise NeedsKustomize(f"{where}: resources entry {entry!r} is not local")
        # kustomize joins and cleans the path as text, then lets the OS follow symlinks.
        lexical = os.path.normpath(os.path.join(directory, entry))
        real = Path(os.path.realpath(lexical))
        if real != Path(os.path.realpath(os.path.join(directory, entry))):
            raise NeedsKustomize(f"{where}: resources entry {entry!r} climbs a symlink")
        if real != self.root and self.root not in real.parents:
            raise NeedsKustomize(f"{where}: resources entry {entry!r} leaves the artifact")
        if real.is_dir():
            return self.directory(real, stack)
        if not real.is_file() or real in self.read:
            raise NeedsKustomize(f"{where}: resources entry {entry!r} missing or listed twice")
        self.read.add(real)
        shown = self.where(real)
        try:
            docs = yamlio.load_manifests(reading.read(real, shown), strict=True)
        except (OSError, yaml.YAMLError, yamlio.Unsupported) as err:
            raise NeedsKustomize(f"{shown}: only kustomize reads it faithfully") from err
        return _flatten(docs, shown)

    def where(self, path: Path) -> str:
        return "." if path == self.root else path.relative_to(self.root).as_posix()


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

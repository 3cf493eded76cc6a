"""The fields of a Flux Kustomization spec that change what a build produces.

`Overlay` holds them as plain, immutable values so a build can be described (and hashed)
without the API types; `Overlay.from_spec` reads them off a `KustomizationSpec`. Flux
writes most of them into the kustomization file before running kustomize; commonMetadata
it sets on the built objects' own metadata afterwards (never on selectors or templates).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kidp_gitops.api.kustomize import KustomizationSpec


@dataclass(frozen=True, slots=True)
class PatchTarget:
    """The objects a patch applies to; every given field must match."""

    group: str | None = None
    version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    label_selector: str | None = None
    annotation_selector: str | None = None

    def to_kustomize(self) -> dict[str, str]:
        fields = {
            "group": self.group,
            "version": self.version,
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "labelSelector": self.label_selector,
            "annotationSelector": self.annotation_selector,
        }
        return {key: value for key, value in fields.items() if value}


@dataclass(frozen=True, slots=True)
class Patch:
    """An inline strategic-merge or JSON 6902 patch."""

    patch: str
    target: PatchTarget | None = None

    def to_kustomize(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"patch": self.patch}
        if self.target is not None and self.target.to_kustomize():
            entry["target"] = self.target.to_kustomize()
        return entry


@dataclass(frozen=True, slots=True)
class Image:
    """A new name, tag or digest for an image, matched by its name without tag."""

    name: str
    new_name: str | None = None
    new_tag: str | None = None
    digest: str | None = None

    def to_kustomize(self) -> dict[str, str]:
        entry = {"name": self.name}
        for key, value in (("newName", self.new_name), ("newTag", self.new_tag)):
            if value:
                entry[key] = value
        if self.digest:
            entry["digest"] = self.digest
        return entry


@dataclass(frozen=True, slots=True)
class CommonMetadata:
    """Labels and annotations set on every built object, overriding equal keys."""

    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", dict(self.labels))
        object.__setattr__(self, "annotations", dict(self.annotations))

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.labels.items())), tuple(sorted(self.annotations.items()))))

    def __bool__(self) -> bool:
        return bool(self.labels or self.annotations)


@dataclass(frozen=True, slots=True)
class Overlay:
    """What a Kustomization adds to the kustomize build of its path."""

    target_namespace: str | None = None
    name_prefix: str | None = None
    name_suffix: str | None = None
    common_metadata: CommonMetadata | None = None
    patches: Sequence[Patch] = ()
    images: Sequence[Image] = ()
    components: Sequence[str] = ()
    ignore_missing_components: bool = False

    def __post_init__(self) -> None:
        # Stored as tuples, whatever sequence was given: hashable, and equal when equal.
        for name in ("patches", "images", "components"):
            value: Iterable[Any] = getattr(self, name)
            object.__setattr__(self, name, tuple(value))

    @classmethod
    def from_spec(cls, spec: KustomizationSpec) -> Overlay:
        """The build-changing fields of a Kustomization spec."""
        metadata = None
        if spec.common_metadata is not None:
            metadata = CommonMetadata(
                labels=spec.common_metadata.labels,
                annotations=spec.common_metadata.annotations,
            )
        return cls(
            target_namespace=spec.target_namespace,
            name_prefix=spec.name_prefix,
            name_suffix=spec.name_suffix,
            common_metadata=metadata,
            patches=tuple(
                Patch(
                    patch=p.patch,
                    target=None
                    if p.target is None
                    else PatchTarget(
                        group=p.target.group,
                        version=p.target.version,
                        kind=p.target.kind,
                        name=p.target.name,
                        namespace=p.target.namespace,
                        label_selector=p.target.label_selector,
                        annotation_selector=p.target.annotation_selector,
                    ),
                )
                for p in spec.patches
            ),
            images=tuple(
                Image(name=i.name, new_name=i.new_name, new_tag=i.new_tag, digest=i.digest)
                for i in spec.images
            ),
            components=tuple(spec.components),
            ignore_missing_components=spec.ignore_missing_components,
        )

    def changes_kustomization(self) -> bool:
        """Whether Flux would write anything into the kustomization file."""
        return bool(
            self.target_namespace
            or self.name_prefix
            or self.name_suffix
            or self.patches
            or self.images
            or self.components
        )

    def canonical(self) -> str:
        """A stable text form of every field, for hashing."""
        metadata = self.common_metadata or CommonMetadata()
        return json.dumps(
            {
                "targetNamespace": self.target_namespace,
                "namePrefix": self.name_prefix,
                "nameSuffix": self.name_suffix,
                "commonMetadata": {
                    "labels": dict(metadata.labels),
                    "annotations": dict(metadata.annotations),
                },
                "patches": [p.to_kustomize() for p in self.patches],
                "images": [i.to_kustomize() for i in self.images],
                "components": list(self.components),
                "ignoreMissingComponents": self.ignore_missing_components,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

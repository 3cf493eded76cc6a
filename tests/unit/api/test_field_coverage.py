"""No field without effect: every spec field of every kind kidp serves is read by the
controllers that own the kind, or refused (api.refused: Stalled, UnsupportedField, and
`kidp validate` says so), or listed below as a known gap of issue 18 still to implement.

"Read" is checked statically and simply: the field's attribute (`.disable_hooks`) or its
JSON name in quotes (`"disableHooks"`) appears in the code of the packages that own the
kind, or in a method of the api models (`effective_retry_interval`) that reads
`self.<attribute>` and that those packages call. It is a necessary condition, not a
proof of behaviour: a name shared by two fields (`install.timeout`, `upgrade.timeout`)
counts for both. It does fail for a field added to a model and read nowhere.
"""

from __future__ import annotations

import ast
import re
import typing
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from kidp_gitops.api import kinds, meta
from kidp_gitops.api.refused import FIELDS

SRC = Path(kinds.__file__).resolve().parents[1]

OWNERS: dict[str, tuple[str, ...]] = {
    "GitRepository": ("source", "vcs", "runtime"),
    "HelmRepository": ("source", "runtime"),
    "HelmChart": ("source", "oci", "runtime"),
    "OCIRepository": ("source", "oci", "runtime"),
    "Bucket": ("source", "s3", "runtime"),
    "ExternalArtifact": ("source", "runtime"),
    "ArtifactGenerator": ("source", "runtime"),
    "Kustomization": ("kustomize", "render", "sops", "runtime"),
    "HelmRelease": ("helm", "runtime"),
    "Provider": ("notification", "runtime"),
    "Alert": ("notification", "runtime"),
    "Receiver": ("notification", "runtime"),
    "ImageRepository": ("image", "runtime"),
    "ImagePolicy": ("image", "runtime"),
    "ImageUpdateAutomation": ("image", "vcs", "runtime"),
}
"""The packages whose code reconciles each kind."""

# Every field of every kind is read or refused: there are no known gaps left (issue 18).
# What is accepted without effect is listed below, each with its reason.

NO_EFFECT_IN_FLUX: dict[str, frozenset[str]] = {
    # Accepted without effect because Flux's controllers give them none either: setting
    # them changes nothing there, so refusing them would break repositories that work.
    # `accessFrom` of source objects is "not implemented, provisional" in Flux's API;
    # Kustomization `validation` was removed in kustomize.toolkit.fluxcd.io/v1 and ignored
    # since v1beta2 (kidp always dry-runs on the server before it applies).
    "HelmRepository": frozenset({"spec.accessFrom"}),
    "HelmChart": frozenset({"spec.accessFrom"}),
    "Kustomization": frozenset({"spec.validation"}),
}


NO_EFFECT_BY_DESIGN: dict[str, dict[str, str]] = {
    # Accepted on purpose with nothing to do in kidp's design; each says why, and
    # docs/flux-compatibility.md says so too.
    "HelmRelease": {
        "spec.persistentClient": "the Helm helper keeps one client per cluster and identity "
        "for every release (helm/invocation.py): always persistent, nothing to choose",
    },
}


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) in (list, tuple):
        return True
    return any(_is_list(arg) for arg in typing.get_args(annotation))


def spec_fields(model: type[BaseModel], prefix: str = "spec") -> Iterator[tuple[str, str]]:
    """(JSON path, attribute) of every field under `model`, nested models included."""
    for attr, field in model.model_fields.items():
        path = f"{prefix}.{field.alias or attr}"
        yield path, attr
        below = f"{path}[]" if _is_list(field.annotation) else path
        for child in _models(field.annotation):
            if child is not model:
                yield from spec_fields(child, below)


@cache
def _code(kind: str) -> str:
    return "\n".join(
        p.read_text() for package in OWNERS[kind] for p in sorted((SRC / package).rglob("*.py"))
    )


@cache
def _accessors() -> dict[str, set[str]]:
    """Method name → the attributes it reads (`self.spec.target_namespace`), for every
    method of the api models."""
    found: dict[str, set[str]] = {}
    for path in (SRC / "api").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                found.setdefault(node.name, set()).update(
                    n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
                )
    return found


def is_read(kind: str, path: str, attr: str) -> bool:
    code = _code(kind)
    json_name = path.rsplit(".", 1)[-1]
    if re.search(rf"\.{attr}\b", code) or f'"{json_name}"' in code:
        return True
    return any(
        attr in reads and re.search(rf"\.{method}\(", code)
        for method, reads in _accessors().items()
    )


def is_refused(kind: str, path: str) -> bool:
    for rule in FIELDS.get(kind, ()):
        # A refused field refuses what is under it; a refused value (`strategy.name`)
        # accounts for the object that holds it.
        if path == rule.path or path.startswith((f"{rule.path}.", f"{rule.path}[]")):
            return True
        if rule.path.startswith(f"{path}.") and rule.allowed:
            return True
    return False


def _under(path: str, parents: frozenset[str]) -> bool:
    return any(path.startswith((f"{p}.", f"{p}[]")) for p in parents)


def unaccounted(kind: str, model: type[kinds.AnyObject]) -> list[str]:
    return [
        path
        for path, attr in spec_fields(kinds.spec_model(model))
        if not is_refused(kind, path) and not is_read(kind, path, attr)
    ]


KINDS = {model.RESOURCE.kind: model for model in kinds.ALL_KINDS}


def test_every_kind_has_its_owning_packages() -> None:
    assert set(OWNERS) == set(KINDS)
    assert all((SRC / p).is_dir() for packages in OWNERS.values() for p in packages)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_spec_field_is_read_or_refused(kind: str) -> None:
    gaps = NO_EFFECT_IN_FLUX.get(kind, frozenset()) | set(NO_EFFECT_BY_DESIGN.get(kind, {}))
    missing = {p for p in unaccounted(kind, KINDS[kind]) if p not in gaps and not _under(p, gaps)}
    assert not missing, (
        f"{kind}: fields neither read by {OWNERS[kind]} nor refused (api/refused.py): "
        f"{sorted(missing)}"
    )


def test_the_fields_without_effect_are_still_unread() -> None:
    for kind, paths in [
        *NO_EFFECT_IN_FLUX.items(),
        *((k, frozenset(v)) for k, v in NO_EFFECT_BY_DESIGN.items()),
    ]:
        stale = paths - set(unaccounted(kind, KINDS[kind]))
        assert not stale, f"{kind}: now read or refused, remove from the list: {sorted(stale)}"


def test_every_refused_path_is_a_field_of_the_model() -> None:
    for kind, rules in FIELDS.items():
        paths = {path for path, _ in spec_fields(kinds.spec_model(KINDS[kind]))}
        for rule in rules:
            assert rule.path in paths, f"{kind} {rule.path}"


class _NewField(meta.SpecModel):
    imaginary_option: bool = False


def test_a_new_field_read_nowhere_is_caught() -> None:
    """The check is not vacuous: a field added without code or refusal is reported."""
    assert list(spec_fields(_NewField)) == [("spec.imaginaryOption", "imaginary_option")]
    assert not is_read("HelmRelease", "spec.imaginaryOption", "imaginary_option")
    assert not is_refused("HelmRelease", "spec.imaginaryOption")
    # And one that is read, and one that is refused, are not.
    assert is_read(
        "HelmRelease", "spec.install.disableSchemaValidation", "disable_schema_validation"
    )
    assert is_refused("HelmRelease", "spec.valuesFrom[].literal")

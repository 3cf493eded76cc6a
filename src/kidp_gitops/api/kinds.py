"""The typed models of every kind kidp serves (`api/resources.py` names them), and
reading manifests into them.

`parse_object` turns a decoded manifest into its typed object or raises a ManifestError
whose lines each name a field (`spec.prune: ...`). `fragment_problems` checks a partial
spec, such as a patch or a documentation snippet, field by field.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from kidp_gitops.api import (
    generator,
    helm,
    image,
    kustomize,
    meta,
    notification,
    resources,
    source,
)

AnyObject = meta.KubeObject[Any, Any]

ALL_KINDS: tuple[type[AnyObject], ...] = (
    source.GitRepository,
    source.HelmRepository,
    source.HelmChart,
    source.OCIRepository,
    source.Bucket,
    source.ExternalArtifact,
    generator.ArtifactGenerator,
    kustomize.Kustomization,
    helm.HelmRelease,
    notification.Provider,
    notification.Alert,
    notification.Receiver,
    image.ImageRepository,
    image.ImagePolicy,
    image.ImageUpdateAutomation,
)

GROUPS = resources.GROUPS


class ManifestError(ValueError):
    """A manifest that does not fit its kind; `problems` has one line per field."""

    def __init__(self, subject: str, problems: list[str]):
        super().__init__(f"{subject}: " + "; ".join(problems))
        self.subject = subject
        self.problems = problems


is_ours = resources.is_ours
describe = meta.describe


def model_for(api_version: str, kind: str) -> type[AnyObject] | None:
    """The model serving this apiVersion and kind, if any."""
    for model in ALL_KINDS:
        if model.RESOURCE.kind == kind and model.RESOURCE.serves(api_version):
            return model
    return None


def spec_model(model: type[AnyObject]) -> type[meta.SpecModel]:
    """The model of a kind's spec."""
    annotation = model.model_fields["spec"].annotation
    for candidate in typing.get_args(annotation) or (annotation,):
        if isinstance(candidate, type) and issubclass(candidate, meta.SpecModel):
            return candidate
    raise TypeError(f"{model.__name__} has no spec model")


def parse_object(doc: Mapping[str, Any]) -> AnyObject:
    """The typed object of a manifest of one of our kinds."""
    api_version = str(doc.get("apiVersion", ""))
    kind = str(doc.get("kind", ""))
    metadata = doc.get("metadata")
    name = metadata.get("name", "") if isinstance(metadata, Mapping) else ""
    subject = f"{kind or '<no kind>'}/{name or '<no name>'}"
    model = model_for(api_version, kind)
    if model is None:
        raise ManifestError(subject, [f"{api_version}, kind {kind} is not served by kidp"])
    try:
        return model.model_validate(dict(doc))
    except ValidationError as error:
        raise ManifestError(subject, describe(error)) from None


def fragment_problems(model: type[BaseModel], data: Mapping[str, Any]) -> list[str]:
    """Problems of a partial object (a patch, a snippet): wrong types, bad values and
    unknown fields. Missing fields and rules across fields are not problems here."""
    try:
        model.model_validate(dict(data))
    except ValidationError as error:
        kept = [
            e
            for e in error.errors()
            if e["type"] != "missing" and not (e["type"] == "value_error" and not e["loc"])
        ]
        return [meta.problem_line(e["loc"], e["type"], e["msg"]) for e in kept]
    return []

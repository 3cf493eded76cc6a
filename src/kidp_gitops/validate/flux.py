"""Flux objects against kidp's own types: the schema the API server would enforce, and
the rules across fields that the controllers would otherwise report at reconcile time.

Each problem becomes one finding at the line of the field it names. A document read as a
kustomize patch (a file that some kustomization lists under `patches`) is partial by
nature, so only wrong types and unknown fields count there, not missing fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from kidp_gitops.api import kinds, kubeconfigmap, resources
from kidp_gitops.api.refused import STORAGE_NAMESPACE, refused_fields
from kidp_gitops.cel import fields as cel_fields
from kidp_gitops.validate.documents import Document, identity
from kidp_gitops.validate.findings import Finding


def check(doc: Document, *, fragment: bool = False) -> list[Finding]:
    """Findings for one document of one of kidp's API groups (nothing for others)."""
    if not doc.is_object or not kinds.is_ours(doc.data["apiVersion"]):
        return []
    api_version, kind = doc.data["apiVersion"], doc.data["kind"]
    subject = identity(doc.data)
    model = kinds.model_for(api_version, kind)
    if model is None:
        return [_not_served(doc, api_version, kind, subject)]
    findings: list[Finding] = []
    version = api_version.partition("/")[2]
    if version in model.RESOURCE.deprecated_versions:
        findings.append(
            Finding(
                doc.file,
                doc.line_of("apiVersion"),
                "warning",
                "flux",
                subject,
                f"{api_version} is deprecated: use {model.RESOURCE.api_version()} "
                "(`kidp migrate -f PATH` rewrites it)",
            )
        )
    if fragment:
        problems = _fragment_problems(model, doc.data)
    else:
        try:
            kinds.parse_object(doc.data)
            problems = []
        except kinds.ManifestError as err:
            problems = err.problems
    for problem in problems:
        path = problem.partition(": ")[0]
        line = doc.line_of(path) if path != "<object>" else doc.line
        findings.append(Finding(doc.file, line, "error", "flux", subject, problem))
    # What the engine would refuse (Stalled, UnsupportedField) is an error here too.
    for refused in refused_fields(kind, doc.data):
        if fragment and refused is STORAGE_NAMESPACE:
            continue  # a patch: the namespaces it compares may come from the base
        line = doc.line_of(refused.path)
        findings.append(Finding(doc.file, line, "error", "flux", subject, refused.message()))
    # An expression that does not compile stalls the object (InvalidCELExpression).
    for problem in cel_fields.problems(kind, doc.data):
        line = doc.line_of(problem.partition(": ")[0])
        findings.append(Finding(doc.file, line, "error", "flux", subject, problem))
    return findings


def kubeconfig_maps(docs: list[Document]) -> list[Finding]:
    """What the engine would say of the workload identity ConfigMap a Kustomization or
    HelmRelease names (`spec.kubeConfig.configMapRef`), when the repository holds it: a
    provider kidp does not implement (Stalled there), or a key missing or unusable."""
    maps: dict[str, list[Document]] = {}
    for doc in docs:
        if doc.is_object and doc.data["kind"] == "ConfigMap" and _meta_ok(doc):
            maps.setdefault(str(doc.data["metadata"].get("name")), []).append(doc)
    findings: list[Finding] = []
    for doc in docs:
        if not (doc.is_object and kinds.is_ours(doc.data["apiVersion"]) and _meta_ok(doc)):
            continue
        spec = doc.data.get("spec")
        kube_config = spec.get("kubeConfig") if isinstance(spec, Mapping) else None
        ref = kube_config.get("configMapRef") if isinstance(kube_config, Mapping) else None
        name = ref.get("name") if isinstance(ref, Mapping) else None
        if not isinstance(name, str) or not name:
            continue
        # The object's namespace, or either without one (set by a kustomization).
        found = next(
            (
                cm
                for cm in maps.get(name, [])
                if "" in (_namespace(cm), _namespace(doc)) or _namespace(cm) == _namespace(doc)
            ),
            None,
        )
        if found is None:
            continue  # made by a generator, or kept elsewhere: the engine will say
        data = found.data.get("data")
        data = {str(k): str(v) for k, v in data.items()} if isinstance(data, Mapping) else {}
        try:
            kubeconfigmap.parse(f"{_namespace(found)}/{name}".lstrip("/"), data)
        except ValueError as err:
            line = found.line_of(["data", kubeconfigmap.PROVIDER])
            findings.append(
                Finding(found.file, line, "error", "flux", identity(doc.data), f"{err}")
            )
    return findings


def _meta_ok(doc: Document) -> bool:
    return isinstance(doc.data.get("metadata"), Mapping)


def _namespace(doc: Document) -> str:
    return str(doc.data["metadata"].get("namespace") or "")


def _not_served(doc: Document, api_version: str, kind: str, subject: str) -> Finding:
    current = resources.current_api_version(api_version, kind)
    if current is None:
        message = f"{api_version} {kind} is not a kind kidp (or Flux) serves"
    elif (api_version.partition("/")[0], kind) in resources.FLUX_ONLY:
        message = f"{api_version} {kind} is served by Flux but not (yet) by kidp"
        if current != api_version:
            message += f"; Flux serves it as {current} (`kidp migrate -f PATH` rewrites it)"
    else:
        message = (
            f"{api_version} is no longer served for {kind}: use {current} "
            "(`kidp migrate -f PATH` rewrites it)"
        )
    line = doc.line_of("apiVersion") if current else doc.line_of("kind")
    return Finding(doc.file, line, "error", "flux", subject, message)


def _fragment_problems(model: type[BaseModel], data: Mapping[str, Any]) -> list[str]:
    """Wrong types, bad values and unknown fields of a partial object; missing fields
    and rules across the fields of one object (which a patch cannot satisfy) are not."""
    try:
        model.model_validate(dict(data))
    except ValidationError as error:
        lines = kinds.describe(error)
        return [
            line
            for line, e in zip(lines, error.errors(), strict=True)
            if e["type"] != "missing"
            and not (e["type"] == "value_error" and isinstance(_at(data, e["loc"]), Mapping))
        ]
    return []


def _at(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        if isinstance(data, Mapping) and isinstance(part, str):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data

"""CustomResourceDefinitions generated from the models, so the schema the API server
enforces and the types the controllers read cannot drift apart.

The OpenAPI schema of each kind is pydantic's JSON schema made structural, as
apiextensions.k8s.io/v1 requires: references inlined, optional fields unwrapped from
their `null` alternative, titles dropped, and only the defaults declared with
`meta.defaulted` kept. Free-form JSON (Helm values, inline patches) is the only place
that preserves unknown fields. Every version of a kind shares one schema, so the
conversion strategy is None (the API server rewrites apiVersion only).

    all_crds()   the CRDs as plain dicts, one per kind
    dump_yaml()  the same as a multi-document YAML stream, e.g. for deploy/
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from kidp_gitops.api import kinds, meta, resources

JSON = dict[str, Any]

# JSON-schema keywords that carry over into a CRD schema as they are.
_KEPT_KEYWORDS = frozenset(
    {
        "type",
        "description",
        "required",
        "enum",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
    }
)


class SchemaError(Exception):
    """A model whose JSON schema has no structural equivalent."""


@dataclass(frozen=True)
class Column:
    """An additional printer column of `kubectl get`."""

    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    """0 shows in the default output, 1 only with -o wide."""

    def to_dict(self) -> JSON:
        column: JSON = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.priority:
            column["priority"] = self.priority
        return column


_READY_PATH = '.status.conditions[?(@.type=="Ready")]'
AGE = Column("Age", ".metadata.creationTimestamp", "date")
READY = Column("Ready", f"{_READY_PATH}.status")
STATUS = Column("Status", f"{_READY_PATH}.message")
SUSPENDED = Column("Suspended", ".spec.suspend", "boolean", priority=1)
URL = Column("URL", ".spec.url")
ARTIFACT_REVISION = Column("Revision", ".status.artifact.revision", priority=1)

# Flux's columns, in Flux's order, plus the Revision and Suspended that `flux get` shows.
COLUMNS: dict[str, tuple[Column, ...]] = {
    "GitRepository": (URL, AGE, READY, STATUS, ARTIFACT_REVISION, SUSPENDED),
    "HelmRepository": (URL, AGE, READY, STATUS, ARTIFACT_REVISION, SUSPENDED),
    "OCIRepository": (URL, AGE, READY, STATUS, ARTIFACT_REVISION, SUSPENDED),
    "Bucket": (
        Column("Endpoint", ".spec.endpoint"),
        AGE,
        READY,
        STATUS,
        ARTIFACT_REVISION,
        SUSPENDED,
    ),
    "ExternalArtifact": (AGE, READY, STATUS, Column("Source", ".spec.sourceRef.name")),
    "ArtifactGenerator": (AGE, READY, STATUS),
    "HelmChart": (
        Column("Chart", ".spec.chart"),
        Column("Version", ".spec.version"),
        Column("Source Kind", ".spec.sourceRef.kind"),
        Column("Source Name", ".spec.sourceRef.name"),
        AGE,
        READY,
        STATUS,
        ARTIFACT_REVISION,
        SUSPENDED,
    ),
    "Kustomization": (
        AGE,
        READY,
        STATUS,
        Column("Revision", ".status.lastAppliedRevision", priority=1),
        SUSPENDED,
    ),
    "HelmRelease": (
        AGE,
        READY,
        STATUS,
        Column("Revision", ".status.history[0].chartVersion", priority=1),
        SUSPENDED,
    ),
    "Provider": (AGE, READY, STATUS, SUSPENDED),
    "Alert": (AGE, READY, STATUS, SUSPENDED),
    "Receiver": (AGE, READY, STATUS, SUSPENDED),
    "ImageRepository": (
        Column("Last scan", ".status.lastScanResult.scanTime"),
        Column("Tags", ".status.lastScanResult.tagCount"),
        AGE,
        READY,
        STATUS,
        SUSPENDED,
    ),
    "ImagePolicy": (
        Column("LatestImage", ".status.latestRef.name"),
        Column("LatestTag", ".status.latestRef.tag"),
        READY,
        STATUS,
        AGE,
    ),
    "ImageUpdateAutomation": (
        READY,
        STATUS,
        Column("Last run", ".status.lastAutomationRunTime", priority=1),
        AGE,
        SUSPENDED,
    ),
}


def all_crds() -> list[JSON]:
    """One CustomResourceDefinition per kind kidp serves."""
    return [crd(model) for model in kinds.ALL_KINDS]


def dump_yaml(crds: Iterable[JSON] | None = None) -> str:
    """The CRDs (all of them by default) as one multi-document YAML stream."""
    return yaml.dump_all(
        list(all_crds() if crds is None else crds),
        Dumper=_NoAliasDumper,
        sort_keys=False,
        default_flow_style=False,
        width=100,
    )


def crd(model: type[kinds.AnyObject]) -> JSON:
    """The CustomResourceDefinition of one kind."""
    info = model.RESOURCE
    schema = _schema(model)  # copied into each version below
    names: JSON = {
        "kind": info.kind,
        "listKind": f"{info.kind}List",
        "plural": info.plural,
        "singular": info.singular,
    }
    if info.short_names:
        names["shortNames"] = list(info.short_names)
    if info.categories:
        names["categories"] = list(info.categories)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": info.crd_name,
            "labels": {"app.kubernetes.io/part-of": "kidp-gitops"},
        },
        "spec": {
            "group": info.group,
            "names": names,
            "scope": "Namespaced",
            "versions": [_version(info, version, schema) for version in info.versions],
            "conversion": {"strategy": "None"},
        },
    }


def _version(info: resources.ResourceInfo, version: str, schema: JSON) -> JSON:
    served: JSON = {"name": version, "served": True, "storage": version == info.storage_version}
    if version in info.deprecated_versions:
        served["deprecated"] = True
        served["deprecationWarning"] = (
            f"{info.api_version(version)} {info.kind} is deprecated, "
            f"use {info.api_version()} {info.kind}"
        )
    served["schema"] = {"openAPIV3Schema": copy.deepcopy(schema)}
    served["subresources"] = {"status": {}}
    served["additionalPrinterColumns"] = [column.to_dict() for column in COLUMNS[info.kind]]
    return served


def openapi_schema(model: type[kinds.AnyObject]) -> JSON:
    """The structural OpenAPI v3 schema of one kind."""
    return copy.deepcopy(_schema(model))


# Once per kind and process: pydantic takes ~0.3 CPU-s to generate a kind's JSON schema,
# and a process may ask often (`kidp install`, the export, the tests' installs). Shared:
# its callers copy it.
@functools.cache
def _schema(model: type[kinds.AnyObject]) -> JSON:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, JSON] = raw.get("$defs", {})
    properties = raw["properties"]
    status = _convert(properties["status"], defs)
    status["default"] = {"observedGeneration": -1}
    schema: JSON = {
        "type": "object",
        "description": raw.get("description", f"{model.RESOURCE.kind} object."),
        "properties": {
            "apiVersion": {"type": "string", "description": "The versioned schema of the object."},
            "kind": {"type": "string", "description": "The REST resource of the object."},
            "metadata": {"type": "object"},
            "spec": _convert(properties["spec"], defs),
            "status": status,
        },
    }
    if "spec" in raw.get("required", []):
        schema["required"] = ["spec"]
    return schema


def _convert(node: JSON, defs: dict[str, JSON]) -> JSON:
    """One pydantic JSON-schema node as a structural OpenAPI node."""
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        return _convert({**target, **node}, defs)  # the referrer's keywords win
    for junctor in ("anyOf", "allOf", "oneOf"):
        if junctor in node:
            options = [o for o in node.pop(junctor) if o.get("type") != "null"]
            if len(options) != 1:
                raise SchemaError(f"{junctor} of {len(options)} schemas is not structural")
            return _convert({**options[0], **node}, defs)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    crd_default = node.pop(meta.CRD_DEFAULT_KEY, _NOTHING)
    out: JSON = {}
    for key, value in node.items():
        if key in ("title", "default"):
            continue
        if key == "properties":
            out[key] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = _convert(value, defs)
        elif key == "additionalProperties":
            if isinstance(value, dict):  # a map; booleans only restate pruning
                out[key] = _convert(value, defs)
        elif key in _KEPT_KEYWORDS or key.startswith("x-kubernetes-"):
            out[key] = copy.deepcopy(value)
        else:
            raise SchemaError(f"JSON-schema keyword {key!r} has no place in a CRD schema")
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if crd_default is not _NOTHING:
        out["default"] = copy.deepcopy(crd_default)
    return out


_NOTHING = object()


class _NoAliasDumper(yaml.SafeDumper):
    """Writes repeated objects out in full instead of as YAML anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

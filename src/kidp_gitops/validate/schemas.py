"""Kubernetes' OpenAPI schemas, offline, and the schemas of CRDs found in a repository.

The built-in kinds are checked against the JSON schemas that the `kubernetes-validate`
package ships for each Kubernetes minor version (generated from Kubernetes' own OpenAPI
documents, in their strict form: unknown fields are errors, as `kubectl apply
--validate=strict` makes them). A CustomResourceDefinition found in the repository
lends its `openAPIV3Schema` to the objects of its kind, converted to JSON schema the way
the API server reads it: `nullable`, `x-kubernetes-int-or-string`, and unknown fields
allowed only under `x-kubernetes-preserve-unknown-fields`.

    Catalog(version)                    the schemas of one Kubernetes minor version
    Catalog.add_crd(crd)                a repository's CRD, for the objects of its kind
    Catalog.check(obj) -> Outcome       problems (path, message), or why it was skipped

Messages never quote a value of a Secret.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from referencing import Registry, Resource

from kidp_gitops.validate.documents import mapping

JSON = dict[str, Any]
_SCHEMA_DIR = re.compile(r"^v(\d+)\.(\d+)\.\d+-local-strict$")
_OBJECT_META = "https://kubernetes.io/api/_definitions.json#/$defs/" + (
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
)
_COPIED = ("enum", "pattern", "minimum", "maximum", "minLength", "maxLength", "minItems")
_COPIED_MORE = ("maxItems", "minProperties", "maxProperties", "uniqueItems", "required")


class UnsupportedVersion(ValueError):
    """No schemas for the Kubernetes version asked for."""


@dataclass(frozen=True)
class Outcome:
    problems: list[tuple[str, str]] = field(default_factory=list)
    skipped: str = ""
    """Why the object could not be checked, when it could not."""
    error: str = ""
    """Why the object is wrong as a whole (an apiVersion Kubernetes does not serve)."""


def _schema_root() -> Path:
    return Path(str(importlib.resources.files("kubernetes_validate"))) / "kubernetes-json-schema"


def available_versions() -> list[str]:
    """The Kubernetes minor versions with schemas, oldest first ("1.36")."""
    found = []
    for entry in _schema_root().iterdir():
        match = _SCHEMA_DIR.match(entry.name)
        if match:
            found.append((int(match.group(1)), int(match.group(2))))
    return [f"{major}.{minor}" for major, minor in sorted(found)]


def _directory(version: str) -> Path:
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?", version.strip())
    wanted = f"{match.group(1)}.{match.group(2)}" if match else version
    if wanted not in available_versions():
        raise UnsupportedVersion(
            f"no schemas for Kubernetes {version}; available: {', '.join(available_versions())}"
        )
    return _schema_root() / f"v{wanted}.0-local-strict"


def minor(version: str) -> str:
    """The major.minor the catalog of `version` uses; raises UnsupportedVersion."""
    return _directory(version).name[1:].split(".0-")[0]


@functools.cache
def _definitions(directory: Path) -> Resource[Any]:
    contents = json.loads((directory / "_definitions.json").read_text(encoding="utf-8"))
    return Resource.from_contents(contents)


def builtin_group(api_version: str) -> bool:
    """Whether the apiVersion's group is one of Kubernetes' own."""
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    return "." not in group or group.endswith(".k8s.io")


class Catalog:
    def __init__(self, version: str) -> None:
        self.directory = _directory(version)
        self.version = minor(version)
        self._registry: Registry[Any] = _definitions(self.directory) @ Registry()
        self._validators: dict[tuple[str, str], Any] = {}
        self._crds: dict[tuple[str, str], JSON] = {}

    def add_crd(self, crd: Mapping[str, Any]) -> None:
        """Serve the kinds of a CustomResourceDefinition (apiextensions.k8s.io/v1)."""
        spec = mapping(crd, "spec")
        group = spec.get("group")
        names = mapping(spec, "names")
        kind = names.get("kind")
        if not isinstance(group, str) or not isinstance(kind, str):
            return
        for version in spec.get("versions") or []:
            if not isinstance(version, Mapping):
                continue
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if isinstance(schema, Mapping) and isinstance(version.get("name"), str):
                self._crds[(f"{group}/{version['name']}", kind)] = _crd_root(schema)
        self._validators.clear()

    def check(self, obj: Mapping[str, Any]) -> Outcome:
        api_version, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
        validator = self._validator(api_version, kind)
        if validator is None:
            if builtin_group(api_version):
                return Outcome(error=f"Kubernetes {self.version} serves no {kind} in {api_version}")
            return Outcome(
                skipped=f"no schema for {api_version} {kind}: its CRD is not in the repository"
            )
        secret = kind == "Secret" and api_version == "v1"
        plain = {k: v for k, v in obj.items() if k != "sops"}
        problems = [_describe(err, secret=secret) for err in _leaves(validator, plain)]
        return Outcome(sorted({p for p in problems if p is not None}))

    def _validator(self, api_version: str, kind: str) -> Any:
        key = (api_version, kind)
        if key not in self._validators:
            schema = self._crds.get(key) or self._builtin(api_version, kind)
            self._validators[key] = (
                None
                if schema is None
                else jsonschema.Draft202012Validator(schema, registry=self._registry)
            )
        return self._validators[key]

    def _builtin(self, api_version: str, kind: str) -> JSON | None:
        group, _, version = api_version.rpartition("/")
        for path in self.directory.glob(f"{kind.lower()}-*.json"):
            schema: JSON = json.loads(path.read_text(encoding="utf-8"))
            for gvk in schema.get("x-kubernetes-group-version-kind") or []:
                if gvk == {"group": group, "kind": kind, "version": version}:
                    return schema
        return None


def _leaves(validator: Any, instance: Any) -> Iterator[Any]:
    """The most specific errors: one of the alternatives of an anyOf/oneOf is enough."""
    for error in validator.iter_errors(instance):
        if error.context and error.validator in ("anyOf", "oneOf"):
            yield jsonschema.exceptions.best_match(error.context)
        else:
            yield error


def _path(error: Any) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "<object>"


def _type_name(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    names.update({dict: "object", type(None): "null"})
    return names.get(type(value), type(value).__name__)


def _describe(error: Any, *, secret: bool) -> tuple[str, str] | None:
    """(path, message); None for a value that is an unresolved `${var}`."""
    instance = error.instance
    if isinstance(instance, str) and "${" in instance:
        return None
    path = _path(error)
    validator = error.validator
    if validator == "type":
        wanted = error.validator_value
        if isinstance(wanted, list):
            wanted = " or ".join(t for t in wanted if t != "null")
        return path, f"{path}: expected {wanted}, found {_type_name(instance)}"
    if validator == "additionalProperties" and isinstance(instance, dict):
        allowed = set((error.schema or {}).get("properties") or {})
        unknown = sorted(k for k in instance if k not in allowed)
        base = "" if path == "<object>" else f"{path}."
        where = f"{base}{unknown[0]}" if unknown else path
        return where, "; ".join(f"{base}{name}: unknown field" for name in unknown)
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        base = "" if path == "<object>" else f"{path}."
        return path, f"{base}{missing}: required field is missing"
    if secret:
        return path, f"{path}: fails the schema's {validator!r} rule"
    return path, f"{path}: {error.message[:200]}"


def _crd_root(schema: Mapping[str, Any]) -> JSON:
    root = convert(schema)
    properties = root.setdefault("properties", {})
    properties["metadata"] = {"$ref": _OBJECT_META}
    properties.setdefault("apiVersion", {"type": "string"})
    properties.setdefault("kind", {"type": "string"})
    root["additionalProperties"] = False
    return root


def convert(node: Mapping[str, Any]) -> JSON:
    """A structural OpenAPI v3 schema node (of a CRD) as a JSON-schema node."""
    out: JSON = {}
    kind = node.get("type")
    if node.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    elif isinstance(kind, str):
        out["type"] = [kind, "null"] if node.get("nullable") else kind
    for keyword in (*_COPIED, *_COPIED_MORE):
        if keyword in node:
            out[keyword] = node[keyword]
    if isinstance(node.get("properties"), Mapping):
        out["properties"] = {name: convert(sub) for name, sub in node["properties"].items()}
    if isinstance(node.get("items"), Mapping):
        out["items"] = convert(node["items"])
    for junctor in ("allOf", "anyOf", "oneOf"):
        if isinstance(node.get(junctor), list):
            out[junctor] = [convert(sub) for sub in node[junctor] if isinstance(sub, Mapping)]
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping):
        out["additionalProperties"] = convert(extra)
    elif (
        "properties" in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
        and not node.get("x-kubernetes-embedded-resource")
    ):
        out["additionalProperties"] = False
    return out

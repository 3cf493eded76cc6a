"""A small checker of CRD OpenAPI schemas, for tests (jsonschema is not a dependency).

`structural_problems` applies the rules apiextensions.k8s.io/v1 sets for structural
schemas; `validate` checks an object against a schema the way the API server does with
strict field validation: types, enums, patterns, lengths, required and unknown fields.
"""

from __future__ import annotations

import re
from typing import Any

JSON = dict[str, Any]

TYPES = ("object", "array", "string", "integer", "number", "boolean")
FORBIDDEN = ("$ref", "$defs", "definitions", "anyOf", "allOf", "oneOf", "not", "nullable")


def structural_problems(schema: Any, path: str = "") -> list[str]:
    """Why a schema is not structural; empty when it is."""
    where = path or "<root>"
    if not isinstance(schema, dict):
        return [f"{where}: a schema node must be an object"]
    problems = [f"{where}: uses {key}" for key in FORBIDDEN if key in schema]
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    int_or_string = schema.get("x-kubernetes-int-or-string")
    if preserve is not None and preserve is not True:
        problems.append(f"{where}: x-kubernetes-preserve-unknown-fields must be true if set")
    if "type" not in schema and not (preserve or int_or_string):
        problems.append(f"{where}: has no type")
    if "type" in schema and schema["type"] not in TYPES:
        problems.append(f"{where}: unknown type {schema['type']!r}")
    if "properties" in schema and "additionalProperties" in schema:
        problems.append(f"{where}: has both properties and additionalProperties")
    if schema.get("type") == "array" and "items" not in schema:
        problems.append(f"{where}: an array without items")
    for name in schema.get("required", []):
        if name not in schema.get("properties", {}):
            problems.append(f"{where}: requires {name!r}, which it does not describe")
    if "default" in schema:
        problems += [f"{where}: bad default: {p}" for p in validate(schema["default"], schema)]
    for name, sub in schema.get("properties", {}).items():
        problems += structural_problems(sub, f"{path}.{name}" if path else name)
    if "items" in schema:
        problems += structural_problems(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        problems += structural_problems(schema["additionalProperties"], f"{path}{{}}")
    return problems


def validate(instance: Any, schema: JSON, path: str = "", *, partial: bool = False) -> list[str]:
    """Why `instance` does not fit `schema`; empty when it does. With `partial`, missing
    required fields are not problems (for patches and snippets)."""
    where = path or "<root>"
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(instance, bool) or not isinstance(instance, int | str):
            return [f"{where}: must be an integer or a string"]
        return []
    type_ = schema.get("type")
    if type_ is None:
        return []  # preserves unknown fields: anything goes
    if not _has_type(instance, type_):
        return [f"{where}: must be of type {type_}, not {_type_name(instance)}"]
    problems: list[str] = []
    if "enum" in schema and instance not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        problems.append(f"{where}: {instance!r} is not one of {allowed}")
    if isinstance(instance, str):
        if "pattern" in schema and re.search(schema["pattern"], instance) is None:
            problems.append(f"{where}: {instance!r} does not match {schema['pattern']}")
        if len(instance) > schema.get("maxLength", len(instance)):
            problems.append(f"{where}: longer than {schema['maxLength']}")
        if len(instance) < schema.get("minLength", 0):
            problems.append(f"{where}: shorter than {schema['minLength']}")
    if isinstance(instance, list):
        if len(instance) > schema.get("maxItems", len(instance)):
            problems.append(f"{where}: more than {schema['maxItems']} items")
        for index, item in enumerate(instance):
            problems += validate(item, schema.get("items", {}), f"{path}[{index}]", partial=partial)
    if isinstance(instance, dict):
        problems += _validate_object(instance, schema, path, partial)
    return problems


def _validate_object(instance: JSON, schema: JSON, path: str, partial: bool) -> list[str]:
    where = path or "<root>"
    problems: list[str] = []
    if not partial:
        problems += [
            f"{where}.{n}: required" for n in schema.get("required", []) if n not in instance
        ]
    properties: JSON = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for key, value in instance.items():
        sub_path = f"{path}.{key}" if path else str(key)
        if key in properties:
            problems += validate(value, properties[key], sub_path, partial=partial)
        elif isinstance(extra, dict):
            problems += validate(value, extra, sub_path, partial=partial)
        elif properties and not schema.get("x-kubernetes-preserve-unknown-fields"):
            problems.append(f"{sub_path}: unknown field")
    return problems


def _has_type(instance: Any, type_: str) -> bool:
    if type_ == "object":
        return isinstance(instance, dict)
    if type_ == "array":
        return isinstance(instance, list)
    if type_ == "string":
        return isinstance(instance, str)
    if type_ == "boolean":
        return isinstance(instance, bool)
    if type_ == "integer":
        return isinstance(instance, int) and not isinstance(instance, bool)
    if type_ == "number":
        return isinstance(instance, int | float) and not isinstance(instance, bool)
    return False


def _type_name(instance: Any) -> str:
    for name in TYPES:
        if _has_type(instance, name):
            return name
    return type(instance).__name__


def preserved_paths(schema: JSON, path: str = "") -> list[str]:
    """The paths that preserve unknown fields."""
    found = [path] if schema.get("x-kubernetes-preserve-unknown-fields") else []
    for name, sub in schema.get("properties", {}).items():
        found += preserved_paths(sub, f"{path}.{name}" if path else name)
    if "items" in schema:
        found += preserved_paths(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        found += preserved_paths(schema["additionalProperties"], f"{path}{{}}")
    return found

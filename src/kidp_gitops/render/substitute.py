"""Flux's post-build variable substitution on built objects, always strict.

Each object is printed as the YAML text kustomize would print for it, `${...}`
expressions in that text are expanded (see `envsubst`), and the text is read back as
Flux reads it. So a value lands wherever its expression stood: `replicas: ${n}` with
n="3" gives the number 3, `enabled: ${on}` with on="true" the boolean true, and a value
that breaks the YAML is an error. (kustomize prints `"${n}"` without quotes too, which is
why Flux's docs wrap such variables in a `${quote}` variable to keep them strings.)

Objects labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled` are
left alone. Variable names must match `^[_a-zA-Z][_a-zA-Z0-9]*$`; newlines are removed
from values, as Flux removes them.

The controller substitutes only when spec.postBuild declares at least one variable or
one substituteFrom reference (Flux's rule), merging the sources with `merge_variables`:
substituteFrom entries in order, then spec.postBuild.substitute, which wins. Values that
came from a Secret never appear in an error message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from kidp_gitops.goyaml import yamlio
from kidp_gitops.render import envsubst, errors

DISABLE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
DISABLED = "disabled"
_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


@dataclass(frozen=True, slots=True)
class Variables:
    """Merged substitution variables, and which of them came from Secrets."""

    values: Mapping[str, str] = field(default_factory=dict)
    secret: frozenset[str] = frozenset()

    @classmethod
    def of(cls, values: Mapping[str, str]) -> Variables:
        return merge_variables([(values, False)])


def merge_variables(sources: Iterable[tuple[Mapping[str, str], bool]]) -> Variables:
    """Merge (data, is_secret) sources in order, later ones winning: pass the
    substituteFrom objects' data in spec order, then spec.postBuild.substitute."""
    values: dict[str, str] = {}
    secret: set[str] = set()
    for data, is_secret in sources:
        for name, value in data.items():
            if not _NAME.fullmatch(name):
                kind = "a Secret" if is_secret else "the variables"
                raise errors.SubstitutionError(
                    f"variable name {name!r} in {kind} is invalid: "
                    f"it must match ^[_a-zA-Z][_a-zA-Z0-9]*$"
                )
            values[name] = value.replace("\n", "")
            if is_secret:
                secret.add(name)
            else:
                secret.discard(name)
    return Variables(values, frozenset(secret))


def substitute(
    objects: Sequence[dict[str, Any]], variables: Variables | Mapping[str, str]
) -> list[dict[str, Any]]:
    """The objects with every `${...}` expanded; raises SubstitutionError."""
    if not isinstance(variables, Variables):
        variables = Variables.of(variables)
    return [_one(obj, variables) for obj in objects]


def is_disabled(obj: Mapping[str, Any]) -> bool:
    metadata = obj.get("metadata") or {}
    return any(
        isinstance(found, Mapping) and found.get(DISABLE_KEY) == DISABLED
        for found in (metadata.get("labels"), metadata.get("annotations"))
    )


def _has_dollar(value: Any) -> bool:
    if isinstance(value, str):
        return "$" in value
    if isinstance(value, dict):
        return any(_has_dollar(k) or _has_dollar(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_dollar(item) for item in value)
    return False


def identify(obj: Mapping[str, Any]) -> str:
    """Kind/namespace/name, as the object was built (before any substitution)."""
    metadata = obj.get("metadata") or {}
    parts = [str(obj.get("kind") or "object"), metadata.get("namespace"), metadata.get("name")]
    return "/".join(str(p) for p in parts if p)


def _one(obj: dict[str, Any], variables: Variables) -> dict[str, Any]:
    if is_disabled(obj) or not _has_dollar(obj):
        return obj
    used: set[str] = set()

    def lookup(name: str) -> str | None:
        used.add(name)
        return variables.values.get(name)

    text = yamlio.dump_for_substitution(obj)
    try:
        expanded = envsubst.expand(text, lookup)
    except envsubst.Unset as unset:
        raise errors.VariableNotSet(
            f"{identify(obj)}: variable {unset.name!r} is not set and has no default "
            "(strict substitution)",
            unset.name,
        ) from None
    except envsubst.ParseError as err:
        raise errors.SubstitutionError(
            f"{identify(obj)}: variable substitution failed: {err}"
        ) from None
    try:
        docs = yamlio.load_substituted(expanded)
    except yaml.YAMLError as err:
        raise errors.SubstitutionError(_invalid_yaml(obj, err, expanded, used, variables)) from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise errors.SubstitutionError(
            f"{identify(obj)}: substituted values turn the object into something that is "
            "not a single YAML mapping"
        )
    result: dict[str, Any] = docs[0]
    return result


def _invalid_yaml(
    obj: Mapping[str, Any],
    err: yaml.YAMLError,
    expanded: str,
    used: set[str],
    variables: Variables,
) -> str:
    problem = yamlio.describe(err)
    prefix = f"{identify(obj)}: substituted values make invalid YAML"
    if any(variables.values.get(name) for name in used & variables.secret):
        # YAML's messages quote the characters they trip over; those may be a Secret's.
        problem = _QUOTED.sub("…", problem)
        return f"{prefix}: {problem} (the line is not shown: it may hold values from a Secret)"
    lines = expanded.splitlines()
    for mark in (getattr(err, "problem_mark", None), getattr(err, "context_mark", None)):
        if mark is not None and 0 <= mark.line < len(lines) and lines[mark.line].strip():
            return f"{prefix}: {problem}: {lines[mark.line].strip()[:200]!r}"
    return f"{prefix}: {problem}"

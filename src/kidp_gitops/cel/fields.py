"""Which fields hold CEL expressions, and what is wrong with the ones an object sets.

    problems(kind, obj) -> list[str]     one line per bad expression, naming its field

The lifecycle stalls an object with problems (reason `InvalidCELExpression`, as Flux)
before its reconciler runs, and `kidp validate` reports them, from this one table.
"""

from __future__ import annotations

from typing import Any

from kidp_gitops.api.refused import values_at
from kidp_gitops.cel import expression
from kidp_gitops.cel.expression import Environment

INVALID_CEL_EXPRESSION = "InvalidCELExpression"

FIELDS: dict[str, tuple[tuple[str, Environment], ...]] = {
    "Kustomization": (
        ("spec.healthCheckExprs[].current", expression.HEALTH),
        ("spec.healthCheckExprs[].inProgress", expression.HEALTH),
        ("spec.healthCheckExprs[].failed", expression.HEALTH),
        ("spec.dependsOn[].readyExpr", expression.READY),
    ),
    "HelmRelease": (("spec.dependsOn[].readyExpr", expression.READY),),
    "Provider": (("spec.commitStatusExpr", expression.COMMIT_STATUS),),
    "Receiver": (
        ("spec.resourceFilter", expression.RESOURCE_FILTER),
        ("spec.resources[].filter", expression.RESOURCE_FILTER),
    ),
}


def problems(kind: str, obj: dict[str, Any]) -> list[str]:
    """What is wrong with the expressions `obj` (as JSON) sets, each naming its field."""
    found: list[str] = []
    for path, env in FIELDS.get(kind, ()):
        for where, text in values_at(obj, path):
            if not isinstance(text, str) or text == "":
                continue  # the schema's business (or not set)
            try:
                expression.check(text, env)
            except expression.InvalidExpression as err:
                found.append(f"{where}: invalid CEL expression: {err}")
    if kind == "Kustomization":
        found += _duplicate_health_checks(obj)
    return found


def group_kind(api_version: str, kind: str | None) -> tuple[str, str]:
    """The (group, kind) a health check expression applies to: the version is ignored,
    and without a kind it applies to the whole group (kind '')."""
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    return group, kind or ""


def _duplicate_health_checks(obj: dict[str, Any]) -> list[str]:
    seen: set[tuple[str, str]] = set()
    found: list[str] = []
    for where, check in values_at(obj, "spec.healthCheckExprs[]"):
        if not isinstance(check, dict) or not isinstance(check.get("apiVersion"), str):
            continue
        key = group_kind(check["apiVersion"], check.get("kind"))
        if key in seen:
            found.append(f"{where}: a second health check for {key[1] or '*'}.{key[0] or 'core'}")
        seen.add(key)
    return found

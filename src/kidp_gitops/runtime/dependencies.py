"""Whether an object's dependency (`spec.dependsOn[]`) is ready, as Flux decides it.

    await require_ready(described, self_obj, dep, ready_expr)   or DEPENDENCY_NOT_READY

Without `readyExpr`, Flux's built-in rule: the dependency has observed its latest
generation and its Ready condition is True. With it, the expression decides instead
(Flux's default; its `AdditiveCELDependencyCheck` feature gate, which runs both, is not
offered): `self` is the object being reconciled, `dep` the dependency, both as the API
server returns them. It was checked when the object was read (`cel.fields`), so what
can go wrong here is only its evaluation, which is retried like a dependency not ready.
"""

from __future__ import annotations

from typing import Any

from kidp_gitops.cel import evaluator, expression
from kidp_gitops.runtime import conditions
from kidp_gitops.runtime.reconcile import ReconcileError


async def require_ready(
    described: str, self_obj: dict[str, Any], dep: dict[str, Any], ready_expr: str | None
) -> None:
    """Raise DEPENDENCY_NOT_READY, naming `described`, unless `dep` is ready."""
    if ready_expr:
        variables = {"self": self_obj, "dep": dep}
        try:
            ready = await evaluator.boolean(ready_expr, expression.READY, variables)
        except (expression.EvaluationFailed, expression.InvalidExpression) as err:
            raise ReconcileError(
                conditions.DEPENDENCY_NOT_READY,
                f"{described}: readyExpr could not be evaluated: {err}",
            ) from err
        if not ready:
            raise ReconcileError(
                conditions.DEPENDENCY_NOT_READY,
                f"{described} is not ready according to its readyExpr",
            )
        return
    st = dep.get("status") or {}
    current = st.get("observedGeneration") == (dep.get("metadata") or {}).get("generation")
    if not (current and conditions.is_true(st, conditions.READY)):
        raise ReconcileError(conditions.DEPENDENCY_NOT_READY, f"{described} is not ready")

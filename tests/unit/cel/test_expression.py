"""CEL compiled as Flux compiles it: each field's variables and result type, the
extensions Flux enables, and clear errors for what would not compile."""

from __future__ import annotations

import pytest

from kidp_gitops.cel import expression
from kidp_gitops.cel.expression import HEALTH, READY, RESOURCE_FILTER, InvalidExpression

OBJECT = {
    "apiVersion": "example.com/v1",
    "kind": "Thing",
    "metadata": {"name": "a", "generation": 3, "labels": {"app/version": "1.2"}},
    "status": {
        "observedGeneration": 3,
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "Synced", "status": "False"},
        ],
    },
}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # Flux's documented health check, over the object's top-level fields.
        ("status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')", True),
        ("status.conditions.exists(e, e.type == 'Synced' && e.status == 'True')", False),
        ("has(status.phase)", False),
        # Numbers compare across types, as cel-go is set up by Flux.
        ("metadata.generation == 3.0", True),
        # The strings and optional-types extensions Flux enables.
        ("metadata.labels['app/version'].split('.').size() == 2", True),
        ("'READY'.lowerAscii() == 'ready'", True),
        ("status.?phase.orValue('none') == 'none'", True),
    ],
)
def test_health_expressions_read_the_object(text: str, value: bool) -> None:
    assert expression.evaluate(text, HEALTH, OBJECT) is value


def test_a_missing_field_fails_the_evaluation_not_the_compile() -> None:
    expression.check("status.phase == 'Ready'", HEALTH)
    with pytest.raises(expression.EvaluationFailed, match="phase"):
        expression.evaluate("status.phase == 'Ready'", HEALTH, OBJECT)


def test_ready_expr_reads_self_and_dep() -> None:
    text = "dep.metadata.labels['app/version'] == self.metadata.labels['app/version']"
    assert expression.evaluate(text, READY, {"self": OBJECT, "dep": OBJECT}) is True


@pytest.mark.parametrize(
    ("text", "env", "problem"),
    [
        ("status.phase ==", HEALTH, "Syntax error"),
        ("", READY, "the expression is empty"),
        ("resource.metadata.name == 'a'", RESOURCE_FILTER, "undeclared reference to 'resource"),
        ("res.metadata.name", RESOURCE_FILTER, "must return a bool, not DYN"),
        ("'a' + 'b'", READY, "must return a bool, not STRING"),
        ("x" * (expression.MAX_LENGTH + 1), HEALTH, "longer than"),
    ],
)
def test_what_does_not_compile_is_refused_with_a_reason(
    text: str, env: expression.Environment, problem: str
) -> None:
    with pytest.raises(InvalidExpression, match=problem):
        expression.check(text, env)


def test_the_iteration_budget_stops_a_runaway_comprehension() -> None:
    data = {"self": {"xs": list(range(200))}, "dep": {}}
    text = "self.xs.all(a, self.xs.all(b, self.xs.all(c, a + b + c >= 0)))"
    with pytest.raises(expression.EvaluationFailed, match="budget"):
        expression.evaluate(text, READY, data)

"""Evaluation from the event loop goes to the worker process: the answers are the
library's, and an expression written to be costly is stopped at the deadline without
stalling the event loop."""

from __future__ import annotations

import asyncio

import pytest

from kidp_gitops.cel import evaluator, expression
from kidp_gitops.cel.expression import HEALTH, READY


async def test_answers_come_from_the_worker() -> None:
    obj = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert await evaluator.boolean("status.conditions.all(c, c.status == 'True')", HEALTH, obj)
    assert not await evaluator.boolean("status.conditions.size() == 2", HEALTH, obj)
    with pytest.raises(expression.EvaluationFailed, match="phase"):
        await evaluator.boolean("status.phase == 'x'", HEALTH, obj)
    with pytest.raises(expression.EvaluationFailed, match="not a bool"):
        await evaluator.boolean("status.conditions", HEALTH, obj)
    with pytest.raises(expression.InvalidExpression, match="undeclared reference"):
        await evaluator.boolean("other == 1", READY, {"self": {}, "dep": {}})


async def test_a_costly_expression_is_stopped_and_the_loop_keeps_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(evaluator, "DEADLINE", 0.5)
    # Within the iteration budget, but each step copies megabytes: minutes of work and
    # gigabytes of memory if it were left to run.
    data = {"xs": list(range(9000)), "s": "ab" * 500_000}
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        with pytest.raises(expression.EvaluationFailed, match=r"took longer than 0\.5s"):
            await evaluator.boolean("xs.all(a, (s + s).lowerAscii().size() > 0)", HEALTH, data)
    finally:
        ticker.cancel()
    assert ticks > 5  # the event loop ran while the worker worked
    # The next evaluation gets a new worker.
    assert await evaluator.boolean("size(xs) == 9000", HEALTH, data)


async def test_an_expression_needing_too_much_memory_ends_the_worker_not_the_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(evaluator, "DEADLINE", 120.0)  # the memory cap ends it first
    # 2,000 strings of 20 MB: 40 GB if it were allowed; the worker has 1 GiB.
    data = {"xs": list(range(2000)), "s": "ab" * 5_000_000}
    with pytest.raises(expression.EvaluationFailed, match="more memory than allowed"):
        await evaluator.boolean("xs.map(a, (s + s).lowerAscii()).size() > 0", HEALTH, data)
    assert await evaluator.boolean("size(xs) == 2000", HEALTH, data)

"""Last in the run (by name): the run started no more control planes than documented in
tests/integration/controlplanes.py, and none from a place without a reason there."""

from __future__ import annotations

from tests.integration import controlplanes


def test_no_more_control_planes_than_the_budget() -> None:
    over = {
        where: (count, controlplanes.BUDGET[where])
        for where, count in controlplanes.STARTS.items()
        if count > controlplanes.BUDGET[where]
    }
    assert not over, f"control planes started beyond the budget (started, allowed): {over}"
    assert sum(controlplanes.STARTS.values()) <= sum(controlplanes.BUDGET.values())

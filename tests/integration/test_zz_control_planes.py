"""Last in the run (by name): the run started no more control planes than documented in
tests/integration/controlplanes.py, and none from a place without a reason there. When
the run is spread over several pytest processes, it counts after the others finished."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.integration import controlplanes


async def test_no_more_control_planes_than_the_budget(pytestconfig: pytest.Config) -> None:
    await controlplanes.others_finished(pytestconfig, timeout=1200)
    starts = controlplanes.started(pytestconfig)
    started = Counter(caller for caller, _, _ in starts)
    allowed = controlplanes.budget(len(controlplanes.processes(pytestconfig)))
    over = {
        where: (count, allowed[where]) for where, count in started.items() if count > allowed[where]
    }
    seen = "\n".join(f"{caller} in {process}: {test}" for caller, process, test in starts)
    assert not over, f"started beyond the budget (started, allowed): {over}; starts:\n{seen}"
    assert sum(started.values()) <= sum(allowed.values()), seen

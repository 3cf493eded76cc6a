"""The helm scenario's memory sampler: the tree's peak, and each program's own peak, so
a result says whether the engine or its Helm helper (source- or helm-controller) holds
the memory."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from bench.scenarios.helm import TreeSampler


async def _sample(pid: int) -> dict[str, Any]:
    for _ in range(100):  # until the child runs (the parent's memory is held before it)
        sampler = TreeSampler([pid], period=0.05).start()
        await asyncio.sleep(0.2)
        figures = await sampler.stop()
        if "sleep" in figures["peak_rss_mib_by_program"]:
            break
    return figures


async def test_each_program_of_the_tree_has_its_own_peak() -> None:
    # A Python parent holding ~64 MiB with a `sleep` child: two programs in one tree.
    hold = "b = bytearray(64 << 20); import subprocess; subprocess.run(['sleep', '30'])"
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", hold, start_new_session=True
    )
    try:
        figures = await _sample(parent.pid)
        by_program = figures["peak_rss_mib_by_program"]
        python = [mib for name, mib in by_program.items() if name.startswith("python")]
        assert len(python) == 1
        assert python[0] >= 64
        assert 0 < by_program["sleep"] < 64
        assert figures["tree_peak_rss_mib"] >= python[0] + by_program["sleep"] - 0.5
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # the `sleep` too
        await parent.wait()

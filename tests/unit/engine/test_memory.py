"""`kill -USR2` on an engine process writes where its memory goes into its data directory."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tracemalloc
from pathlib import Path

from kidp_gitops.engine import memory


async def reported(directory: Path) -> str:
    memory.report_on_signal(directory)
    path = directory / f"memory-{os.getpid()}.txt"
    os.kill(os.getpid(), signal.SIGUSR2)
    for _ in range(200):
        await asyncio.sleep(0.05)
        if path.exists():
            return path.read_text()
    raise AssertionError("no report written")


async def test_a_signal_writes_what_the_kernel_counts(tmp_path: Path) -> None:
    text = await reported(tmp_path / "data")
    rss = next(line for line in text.splitlines() if line.startswith("VmRSS:"))
    assert int(rss.split()[1]) > 1024  # KiB
    assert "RssAnon" in text
    # and again once what was freed went back to the kernel (glibc, as in the image)
    assert "# kernel (KiB): after gc.collect() and malloc_trim(0)" in text
    assert "# traced" not in text  # tracing is off unless asked for


async def test_when_tracing_it_names_the_lines_that_allocated(tmp_path: Path) -> None:
    tracemalloc.start(5)
    try:
        line = sys._getframe().f_lineno + 1
        held = [bytearray(1 << 20) for _ in range(8)]
        text = await reported(tmp_path)
    finally:
        tracemalloc.stop()
    assert len(held) == 8
    by_line = text.split("## by lineno", 1)[1].split("## by filename", 1)[0]
    biggest = by_line.splitlines()[1]
    assert biggest.endswith(f"{__file__}:{line}")
    assert float(biggest.split()[0]) >= 8.0

"""Where a running engine process's memory goes, asked from outside: `kill -USR2 <pid>`.

The process writes `memory-<pid>.txt` into its data directory (the log says where):
its RSS split as the kernel sees it (`/proc/self/smaps_rollup`: anonymous memory, the
shared libraries' pages), and — when it was started with `PYTHONTRACEMALLOC=<frames>`
(Python's own switch; tracing costs memory and time, so it is never on by default) —
the lines that allocated what is still held, by line, by file and by call stack. (A
census of objects by type would mislead: the collector does not track dicts that hold
only strings and numbers, most of a JSON object's.) Between the two, the kernel's figures
again after a full collection and glibc's `malloc_trim`: how much of the RSS was memory
freed but not yet given back (the report gives it back).

A diagnosis aid for the ceiling of issue 20 (what one shard holds, and why): it runs on
the event loop and takes a second or more on a large heap, and only when asked.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import signal
import time
import tracemalloc
from pathlib import Path

log = logging.getLogger(__name__)

TOP = 40
"""Lines of each table."""


def report_on_signal(directory: Path, sig: signal.Signals = signal.SIGUSR2) -> None:
    """Write a report into `directory` whenever the process receives `sig`."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(sig, lambda: _write(directory))


def _write(directory: Path) -> None:
    path = directory / f"memory-{os.getpid()}.txt"
    began = time.monotonic()
    written = path.with_suffix(".part")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        written.write_text(report())
        written.replace(path)  # whoever waits for the file reads it whole
    except OSError as err:
        log.warning("memory report not written to %s: %s", path, err)
        return
    log.info("memory report written to %s in %.1fs", path, time.monotonic() - began)


def report() -> str:
    """The whole report, as text."""
    sections = [_kernel()]
    gc.collect()
    if _malloc_trim():
        sections.append(_kernel("after gc.collect() and malloc_trim(0)"))
    if tracemalloc.is_tracing():
        sections.append(_traced())
    return "\n\n".join(sections) + "\n"


def _malloc_trim() -> bool:
    """Give the free memory of glibc's heaps back to the kernel; False where there is no
    glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


def _kernel(when: str = "") -> str:
    lines = [f"# kernel (KiB){': ' + when if when else ''}"]
    for name in ("/proc/self/status", "/proc/self/smaps_rollup"):
        try:
            with open(name) as f:
                for line in f:
                    if line.startswith(
                        ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads", "Pss", "Anonymous")
                    ):
                        lines.append(line.rstrip())
        except OSError:
            continue
    return "\n".join(lines)


def _traced() -> str:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    current, peak = tracemalloc.get_traced_memory()
    lines = [f"# traced: {current / 2**20:.1f} MiB held, {peak / 2**20:.1f} MiB at peak"]
    for key in ("lineno", "filename"):
        lines.append(f"\n## by {key}: MiB, blocks, where")
        for stat in snapshot.statistics(key)[:TOP]:
            frame = stat.traceback[0]
            lines.append(
                f"{stat.size / 2**20:9.2f} {stat.count:>10} {frame.filename}:{frame.lineno}"
            )
    lines.append("\n## by call stack (innermost last)")
    for stat in snapshot.statistics("traceback")[: TOP // 2]:
        lines.append(f"{stat.size / 2**20:9.2f} MiB {stat.count} blocks")
        lines.extend(f"    {frame.filename}:{frame.lineno}" for frame in stat.traceback)
    return "\n".join(lines)

"""One module per scenario. Each scenario function takes its size and a `Settings`, starts
what it needs (usually a fresh `BenchEnv`), and returns a JSON-able dict of figures; the
runner collects them, computes medians and spreads, and writes the result file."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import measure
from bench.env import BenchEnv


@dataclass
class Settings:
    """What every scenario may consult."""

    work_root: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "kidp-bench")
    engine_args: list[str] = field(default_factory=list)
    keep: bool = False
    profile: str | None = None
    """Scenario name to run under py-spy (e.g. "mttp"), or None."""
    profile_dir: Path | None = None
    mttp_timeout: float | None = None
    """Seconds an mttp run may take before it is recorded as timed out (default:
    max(180, 0.6 * N))."""
    log: Any = print

    def say(self, message: str) -> None:
        self.log(f"[{time.strftime('%H:%M:%S')}] {message}")


_counter = 0


@asynccontextmanager
async def fresh_env(
    settings: Settings, name: str, install: list[dict[str, Any]] | None = None
) -> AsyncIterator[BenchEnv]:
    """A new control plane, git server and (not yet started) engine for one run;
    `install`: the objects to install in place of kidp's CRDs and RBAC."""
    global _counter
    _counter += 1
    root = settings.work_root / f"{time.strftime('%Y%m%d-%H%M%S')}-{_counter:02d}-{name}"
    settings.say(f"{name}: starting a fresh control plane in {root}")
    async with BenchEnv(root, settings.engine_args, settings.keep, install) as env:
        yield env
    settings.say(f"{name}: control plane stopped (logs in {root / 'logs'})")


async def quiet(
    settings: Settings, env: BenchEnv, max_wait: float = 60.0, cores: float = 0.25
) -> float:
    """Wait, at most `max_wait` seconds, until other users of this shared machine use
    less than `cores` of CPU (2-second windows; our own processes not counted). Returns
    the last figure, which the run records."""
    deadline = time.monotonic() + max_wait
    while True:
        meter = env.meter()
        meter.start()
        await asyncio.sleep(2.0)
        busy = float(meter.stop()["others_s"]) / 2.0
        if busy < cores:
            return busy
        if time.monotonic() > deadline:
            settings.say(f"others keep {busy:.2f} cores of this machine busy; measuring anyway")
            return busy


class RssSampler:
    """VmRSS of a process every `period` seconds, in the background."""

    def __init__(self, pid: int, period: float = 0.5):
        self.pid = pid
        self.period = period
        self.values: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> RssSampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            rss = measure.memory_mib(self.pid).get("VmRSS")
            if rss is not None:
                self.values.append(rss)
            await asyncio.sleep(self.period)

    async def stop(self) -> dict[str, Any]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        hwm = measure.memory_mib(self.pid).get("VmHWM")
        out: dict[str, Any] = {"rss_mib": measure.stats(self.values, 1)}
        out["rss_mib"].pop("values", None)
        if hwm is not None:
            out["peak_rss_mib"] = round(hwm, 1)
        return out

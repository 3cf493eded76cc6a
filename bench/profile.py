"""py-spy around a window of the engine's life, and a summary of where its CPU went.

    profiler = Profiler(pid, out).start()   # py-spy record --format raw (collapsed stacks)
    ...                                     # the window
    summary = profiler.stop()               # top functions, self and inclusive, by area

py-spy samples the engine from outside (--nonblocking: the engine is never paused), only
while a thread is on CPU (idle samples dropped), so the shares are shares of the
engine's CPU time, not of the wall time.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::(?P<line>\d+))?\)$")


class Profiler:
    def __init__(self, pid: int, out: Path, rate: int = 100):
        self.pid = pid
        self.out = out
        self.rate = rate
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def program() -> str | None:
        """py-spy next to this Python (the venv), else on PATH."""
        local = Path(sys.executable).parent / "py-spy"
        return str(local) if local.is_file() else shutil.which("py-spy")

    @classmethod
    def available(cls) -> bool:
        return cls.program() is not None

    def start(self) -> Profiler:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [
                self.program() or "py-spy",
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                str(self.rate),
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(self.out),
                "--duration",
                "3600",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.out.with_suffix(".log"), "wb"),  # noqa: SIM115 - child owns it
            stdin=subprocess.DEVNULL,
        )
        return self

    def stop(self) -> dict[str, Any]:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if not self.out.exists():
            return {"error": f"py-spy wrote nothing; see {self.out.with_suffix('.log')}"}
        return summarize(self.out)


def _area(file: str, func: str) -> str:
    """A coarse bucket for a frame: our package by sub-package, else the library."""
    path = file.replace("\\", "/")
    if "kidp_gitops/" in path:
        rest = path.split("kidp_gitops/", 1)[1]
        return "kidp_gitops." + rest.split("/", 1)[0].removesuffix(".py")
    for lib in (
        "aiohttp",
        "yarl",
        "multidict",
        "asyncio",
        "ssl",
        "yaml",
        "orjson",
        "pydantic",
        "prometheus_client",
        "json",
        "tarfile",
        "gzip",
        "subprocess",
        "selectors",
        "concurrent",
        "threading",
        "copy",
        "hashlib",
        "kubernetes_asyncio",
        "ruamel",
    ):
        if f"/{lib}/" in path or path.endswith(f"/{lib}.py") or path == f"{lib}.py":
            return lib
    return path.rsplit("/", 1)[-1] or func


def summarize(raw: Path, top: int = 20) -> dict[str, Any]:
    """Top frames of a py-spy raw (collapsed) profile: self, inclusive, by area."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas_self: Counter[str] = Counter()
    ours_inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [f for f in stack.split(";") if f]
        parsed = []
        for f in frames:
            m = _FRAME.match(f.strip())
            func, file = (m["func"], m["file"]) if m else (f.strip(), "")
            short = file.split("site-packages/")[-1].split("/src/")[-1]
            parsed.append((f"{func} ({short})", _area(file, func), "kidp_gitops/" in file))
        if not parsed:
            continue
        leaf, area, _ = parsed[-1]
        self_time[leaf] += count
        areas_self[area] += count
        for name in {p[0] for p in parsed}:
            inclusive[name] += count
        for name in {p[0] for p in parsed if p[2]}:
            ours_inclusive[name] += count

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"frame": k, "share": round(v / total, 3), "samples": v}
            for k, v in counter.most_common(top)
        ]

    return {
        "file": str(raw),
        "samples": total,
        "self_by_area": share(areas_self),
        "self_top": share(self_time),
        "inclusive_top": share(inclusive),
        "inclusive_kidp_gitops_top": share(ours_inclusive),
    }

"""What each phase of a layer build spends: wall time, and CPU time of this process and
of the children it waited for (apt, dpkg-deb, the chrooted pip and compileall).

    spent = Spent()
    with spent("extract"):
        ...
    spent.phases   {"extract": {"wall": 12.3, "cpu": 10.1, "children": 4.0}, ...}

`resource.getrusage` counts a child once it is reaped, so a phase counts the programs it
ran to their end; a build runs its phases one after another in one process.
"""

from __future__ import annotations

import contextlib
import resource
import time
from collections.abc import Iterator


def _now() -> tuple[float, float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (
        time.monotonic(),
        own.ru_utime + own.ru_stime,
        children.ru_utime + children.ru_stime,
    )


class Spent:
    def __init__(self) -> None:
        self.phases: dict[str, dict[str, float]] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        before = _now()
        try:
            yield
        finally:
            after = _now()
            totals = self.phases.setdefault(phase, {"wall": 0.0, "cpu": 0.0, "children": 0.0})
            for key, start, end in zip(("wall", "cpu", "children"), before, after, strict=True):
                totals[key] = round(totals[key] + end - start, 2)

    def summary(self) -> str:
        """One line: each phase's wall seconds and CPU seconds (own + children)."""
        return "; ".join(
            f"{name} {p['wall']:.1f} s ({p['cpu'] + p['children']:.1f} CPU-s)"
            for name, p in self.phases.items()
        )

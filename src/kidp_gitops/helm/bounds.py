"""The bounds of the Helm helper, and what passing one says about a release.

A chart's templates run inside kidp-helm-server (`runner`), and Go cannot stop one of
them from outside, so the helper ends itself past a bound, with an exit code that says
which (hack/helm/server/guard.go):

    2   Go's runtime ended it: a fatal error (out of memory, a stack past its limit) or
        a panic outside a request
    3   its memory passed `memory(...)`
    4   a render passed `render(timeout)`

and a helper serving one release alone also has `cpu_seconds` of CPU time (RLIMIT_CPU,
SIGXCPU). `verdict` turns such an end into the release's failure, in words its owner
can act on.
"""

from __future__ import annotations

import re
import signal
from typing import Any

from kidp_gitops.proc import sandbox

RENDER_MIN = 10.0
"""The least time a chart's templates may render (see `render`)."""
ALONE_CPU = 120
"""CPU seconds of a helper serving one release alone beyond its render's bound (an
action costs well under one)."""
EXIT_CRASH, EXIT_MEMORY, EXIT_RENDER = 2, 3, 4
BLAMED = frozenset({EXIT_CRASH, EXIT_MEMORY, EXIT_RENDER})
"""The ends of the helper that one of its requests caused."""
_OUT_OF_MEMORY = re.compile(r"out of memory|stack exceeds|cannot allocate memory")


def render(timeout: float) -> float:
    """How long an install's or upgrade's templates may render: a quarter of the
    action's timeout (a real chart renders in well under a second; a loaded machine may
    slow it tenfold), and never less than `RENDER_MIN`."""
    return max(RENDER_MIN, timeout / 4)


def memory(*, alone: bool) -> int:
    """The memory a helper may hold: one release's helper as much as a build
    (`sandbox.LIMITS.memory`), the shared helper twice that (every tenant's clients and
    charts, and its actions in flight)."""
    return sandbox.LIMITS.memory * (1 if alone else 2)


def cpu_seconds(request: dict[str, Any]) -> int:
    """The CPU time a helper serving `request` alone may use: its render's bound (a
    render spinning that long ends by the render's bound first) and `ALONE_CPU`."""
    return ALONE_CPU + int(request.get("renderTimeout", 0))


def verdict(code: int | None, stderr: bytes, request: dict[str, Any]) -> str:
    """Why a helper serving `request` alone ended (exit `code`, the tail of its
    `stderr`) before it answered: the release's failure."""
    command = request["argv"][0]
    said = stderr.decode("utf-8", "replace")
    if code == EXIT_MEMORY or (code == EXIT_CRASH and _OUT_OF_MEMORY.search(said)):
        mib = memory(alone=True) >> 20
        return f"the chart's templates exhausted the memory bound of the helm helper ({mib} MiB)"
    if code == EXIT_RENDER:
        bound = request.get("renderTimeout", RENDER_MIN)
        return f"rendering the chart's templates timed out after {bound:g}s"
    if code == -signal.SIGXCPU:
        return f"helm {command} exceeded its CPU time bound ({cpu_seconds(request)}s)"
    if code == EXIT_CRASH:
        return f"helm {command} crashed the helm helper serving this release alone"
    return f"the helm helper serving this release alone ended (exit code {code})"

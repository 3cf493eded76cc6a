"""The bounds of the Helm helper, and what passing one says about a release.

A chart's templates run inside kidp-helm-server (`runner`), and Go cannot stop one of
them from outside, so the helper ends itself past a bound, with an exit code that says
which (hack/helm/server/guard.go):

    2   Go's runtime ended it: a fatal error (out of memory, a stack past its limit) or
        a panic outside a request
    3   its memory passed `memory(...)`
    4   a render passed `render(timeout)`; the helper names the request ("request N").
        The shared helper reads the clock (the end only sends releases to run alone), a
        helper serving one release alone its CPU time (`ALONE_RENDER_CLOCK`): that end
        convicts, and a loaded machine must not convict an innocent chart
    5   a helper serving one release alone passed its CPU time, `ALONE_CPU` (RLIMIT_CPU)

Every bound a tenant's spec could stretch is capped by the operator, not the tenant: the
render's time by `render_max` (spec.timeout only shortens it), the CPU time of a helper
serving one release alone is a constant. `verdict` turns such an end into the release's
failure, in words its owner can act on; `convicts` says which ends are a release's doing
at all (any other, such as a SIGKILL from outside, blames no one; the runner counts a
SIGKILL as the memory bound's when the cgroup's OOM kills rose, `oom_kills`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kidp_gitops.proc import sandbox

RENDER_MIN = 10.0
"""The least time a chart's templates may render (see `render`)."""
RENDER_MAX = sandbox.Limits.render
"""The most time a chart's templates may render by default; the operator's setting is
`sandbox.LIMITS.render` (`kidp controller run --helm-render-time-limit`): a real chart
renders in well under a second."""
ALONE_CPU = 180
"""CPU seconds of a helper serving one release alone: more than a render may take by
default (`RENDER_MAX`) with the action's own work (well under one second), whatever the
release's spec.timeout."""
ALONE_RENDER_CLOCK = {"KIDP_HELM_SERVER_RENDER_CLOCK": "cpu"}
"""The environment that makes a helper count a render's bound in CPU time."""
ALONE_AT_ONCE = 2
"""Helpers serving one release alone at once, at most (each may hold as much memory as
the shared one)."""
CGROUP = Path("/sys/fs/cgroup")
"""The engine's own cgroup (v2, as a container sees it)."""
ENGINE_HEADROOM = 512 << 20
"""Of the cgroup's memory limit, what is left to the engine itself (its caches, the
watch of every object) and not shared out among the Helm helpers."""
MEMORY_FLOOR = 128 << 20
"""The least memory bound a helper gets, however small the cgroup's limit."""
EXIT_CRASH, EXIT_MEMORY, EXIT_RENDER, EXIT_CPU = 2, 3, 4, 5
BLAMED = frozenset({EXIT_CRASH, EXIT_MEMORY, EXIT_RENDER, EXIT_CPU})
"""The ends of the helper that one of its requests may have caused: the releases in
flight become suspects."""
_OUT_OF_MEMORY = re.compile(r"out of memory|stack exceeds|cannot allocate memory")
_OVERRUN = re.compile(r"request (\d+) rendered")
HEADLINES = (b"panic: ", b"fatal error: ", b"runtime: ", b"SIG")
"""How the lines that say why Go's runtime ended a process start (a dump of every
goroutine's stack follows them, far longer than the tail of standard error kept)."""
HEADLINE_BYTES = 200
_RUNTIME_PANIC = "panic: runtime error: "


def render(timeout: float, render_max: float | None = None) -> float:
    """How long an install's or upgrade's templates may render: a quarter of the
    action's timeout (a loaded machine may slow a render tenfold), never less than
    `RENDER_MIN` and never more than the operator's `render_max` (`sandbox.LIMITS`).
    The operator's cap is the last word, even under `RENDER_MIN`. The floor spares a
    tenant's chart, slowed on a loaded machine past a bound its short spec.timeout set,
    from ending the shared helper for everyone in flight and being charged to its
    namespace; an operator who knows the charts may give that up for a tighter bound.
    It fails no innocent chart: alone, a render's bound counts CPU time, and a template's
    `lookup` keeps at least what the floor gives it (hack/helm/server/actions.go)."""
    cap = sandbox.LIMITS.render if render_max is None else render_max
    return min(max(RENDER_MIN, timeout / 4), cap)


def memory(*, alone: bool) -> int:
    """The memory a helper may hold: the shared helper twice a build's
    (`sandbox.LIMITS.memory`: every tenant's clients and charts, and its actions in
    flight), one release's helper as much, since one request may use that much in the
    shared helper too: a release that passes there must not fail alone. In a container
    whose cgroup has a memory limit, no more than a share of it: the shared helper and
    `ALONE_AT_ONCE` one-release helpers each a share of what `ENGINE_HEADROOM` leaves
    (never under `MEMORY_FLOOR`), so that the helper's own bound, which names the
    release, is passed before the OOM killer picks a process."""
    del alone  # the same bound; the argument says which helper asks
    bound = sandbox.LIMITS.memory * 2
    limit = cgroup_memory_max()
    if limit is not None:
        share = (limit - ENGINE_HEADROOM) // (1 + ALONE_AT_ONCE)
        bound = min(bound, max(MEMORY_FLOOR, share))
    return bound


def cgroup_memory_max() -> int | None:
    """The memory limit of the engine's cgroup (v2 `memory.max`), None when it has none
    or it cannot be read."""
    try:
        said = (CGROUP / "memory.max").read_text().strip()
    except OSError:
        return None
    return int(said) if said.isdigit() else None


def oom_kills() -> int | None:
    """How many processes the OOM killer ended in the engine's cgroup so far (v2
    `memory.events`), None when it cannot be read."""
    try:
        lines = (CGROUP / "memory.events").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, count = line.partition(" ")
        if name == "oom_kill" and count.strip().isdigit():
            return int(count)
    return None


def cpu_seconds() -> int:
    """The CPU time a helper serving one release alone may use."""
    return ALONE_CPU


def overran(stderr: bytes) -> int | None:
    """The id of the request whose render passed its bound, from the helper's last
    words on exit 4."""
    found = _OVERRUN.findall(stderr.decode("utf-8", "replace"))
    return int(found[-1]) if found else None


def convicts(code: int | None, stderr: bytes) -> bool:
    """Whether a helper serving one release alone ended by the release's doing: one of
    its own bounds, or Go's end for want of memory. Anything else (a kill from outside,
    the OOM killer's SIGKILL, a crash of the helper's own) says nothing of the release."""
    if code in (EXIT_MEMORY, EXIT_RENDER, EXIT_CPU):
        return True
    return code == EXIT_CRASH and bool(_OUT_OF_MEMORY.search(stderr.decode("utf-8", "replace")))


def verdict(code: int | None, stderr: bytes, request: dict[str, Any]) -> str:
    """Why a helper serving `request` alone ended (exit `code`, the tail of its
    `stderr`) before it answered: the release's failure (see `convicts`)."""
    command = request["argv"][0]
    if code in (EXIT_MEMORY, EXIT_CRASH):
        mib = memory(alone=True) >> 20
        return f"the chart's templates exhausted the memory bound of the helm helper ({mib} MiB)"
    if code == EXIT_RENDER:
        bound = request.get("renderTimeout", RENDER_MIN)
        return f"rendering the chart's templates took more than {bound:g}s of CPU time"
    if code == EXIT_CPU:
        return f"helm {command} exceeded its CPU time bound ({cpu_seconds()}s)"
    return f"the helm helper serving this release alone ended (exit code {code})"


def headline(line: bytes) -> bool:
    """Whether a line of Go's last words says why it ended (see `HEADLINES`)."""
    return line.startswith(HEADLINES)


def crash(headlines: list[bytes]) -> str | None:
    """Why Go's runtime ended the helper, in one line fit for a log, from the first
    `fatal error:`, else `panic:`, else `SIG…` line of its last words: the runtime's own
    words (fixed text, numbers, type names), cut. A panic's value is the program's and
    may hold anything a request carried, so only a runtime error's words are kept."""
    said = [h.decode("utf-8", "replace").strip() for h in headlines]
    for prefix in ("fatal error: ", "panic: ", "SIG"):
        line = next((s for s in said if s.startswith(prefix)), None)
        if line is None:
            continue
        if prefix == "panic: " and not line.startswith(_RUNTIME_PANIC):
            line = "panic: (its value is not logged)"
        return line[:HEADLINE_BYTES]
    return None

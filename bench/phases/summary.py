"""The median of each phase per commit, from the records of `sitecustomize`.

    python -m bench.phases.summary DIR [DIR …]     one column per directory

A commit is a GitRepository reconcile that stored an artifact (`archive` inside it) and
the first Kustomization reconcile that applied, started within 2 s of its status write.
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple


class Call(NamedTuple):
    start: float
    end: float
    name: str
    detail: str


def read(directory: Path) -> list[list[Call]]:
    """The records of each engine process in `directory`, sorted by start."""
    traces = []
    for file in sorted(directory.rglob("phases-*.tsv")):
        calls = []
        for line in file.read_text().splitlines():
            start, end, name, detail = line.split("\t", 3)
            calls.append(Call(float(start), float(end), name, detail))
        traces.append(sorted(calls))
    return traces


def phases(calls: list[Call]) -> dict[str, list[float]]:
    """Seconds per phase, one value per commit."""
    out: dict[str, list[float]] = defaultdict(list)

    def within(a: float, b: float, match: Callable[[Call], bool]) -> list[Call]:
        return [c for c in calls if a <= c.start <= b and match(c)]

    def first(a: float, b: float, suffix: str) -> Call | None:
        found = within(a, b, lambda c: c.name.endswith(suffix))
        return found[0] if found else None

    def took(name: str, call: Call | None) -> None:
        if call is not None:
            out[name].append(call.end - call.start)

    reconciles = [c for c in calls if c.name.endswith(".reconcile")]
    for git in (r for r in reconciles if r.detail == "GitRepositoryReconciler"):
        a, b = git.start, git.end
        if first(a, b, "archive") is None:
            continue  # nothing new: not a commit
        hooks = [c for c in calls if c.name.endswith(".hook") and a - 1 < c.start < a]
        if hooks:
            out["webhook → GitRepository reconcile"].append(a - hooks[-1].start)
        for suffix in ("_auth", "ls_remote", "Git.fetch", "_fetch_commit", "_export", "archive"):
            took(suffix, first(a, b, suffix))
        programs = within(a, b, lambda c: c.name == "_execute")
        out["git programs (count)"].append(len(programs))
        out["git programs (time)"].append(sum(c.end - c.start for c in programs))
        for thread in within(a, b, lambda c: c.name == "thread"):
            out["worker thread wait"].append(float(thread.detail.rpartition("wait=")[2]))
        # The GitRepository's own write, after its run (a Kustomization queued by the same
        # request may write in between).
        run = first(a, b, "GitRepositoryReconciler.run")
        status = first(run.end if run is not None else a, b, "_patch_status")
        took("status write", status)
        out["GitRepository reconcile"].append(b - a)
        written = status.end if status is not None else b
        applying = [
            k
            for k in reconciles
            if k.detail == "KustomizationReconciler"
            and written - 0.001 < k.start < written + 2
            and first(k.start, k.end, "_apply") is not None
        ]
        if not applying:
            continue
        k = applying[0]
        out["status written → Kustomization reconcile"].append(k.start - written)
        for suffix in ("fetch", "render", "_build", "_apply"):
            took(f"Kustomization {suffix}", first(k.start, k.end, suffix))
        out["Kustomization reconcile"].append(k.end - k.start)
        out["GitRepository start → Kustomization done"].append(k.end - a)
        late = within(a, k.end, lambda c: c.name == "looplag")
        out["event-loop lateness in that span"].append(sum(float(c.detail) for c in late))
    return out


def main(argv: list[str]) -> None:
    columns: list[dict[str, list[float]]] = []
    for directory in argv:
        merged: dict[str, list[float]] = defaultdict(list)
        for trace in read(Path(directory)):
            for name, values in phases(trace).items():
                merged[name].extend(values)
        columns.append(merged)
    names = list(dict.fromkeys(n for column in columns for n in column))
    print("phase (median per commit)".ljust(44) + "".join(d[-18:].rjust(20) for d in argv))
    for name in names:
        cells = []
        for column in columns:
            values = column.get(name, [])
            if not values:
                cells.append("".rjust(20))
            elif name.endswith("(count)"):
                cells.append(f"{statistics.median(values):g}".rjust(20))
            else:
                cells.append(f"{statistics.median(values) * 1000:.1f} ms n={len(values)}".rjust(20))
        print(name.ljust(44) + "".join(cells))


if __name__ == "__main__":
    main(sys.argv[1:])

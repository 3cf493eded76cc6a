"""Where the test suite's time goes: a pytest plugin, and its summary.

    KIDP_SUITE_TIMES=/tmp/t pytest -p bench.suitetimes -n 2 tests/unit
    python -m bench.suitetimes /tmp/t [--top 20]

For each test (setup, call and teardown together) one JSON line in a file per pytest
process under the directory: wall seconds, the CPU seconds of the test's process
(`cpu`: tests and whatever runs in their event loop, the session's engine too) and of the
children it reaped meanwhile (`children`: git, kustomize, kidp, helm, …), and the load
average when it ended. Wall time alone misleads on this shared 2-core machine: a test
waiting for CPU looks slow; its CPU says what it costs. Long-lived processes a fixture
starts and stops later (control planes) count in the test that reaps them.

Not a test and no assert: numbers for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    directory = os.environ.get("KIDP_SUITE_TIMES")
    if not directory:
        yield
        return
    wall, cpu, children = time.monotonic(), time.process_time(), _children_cpu()
    yield
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    record = {
        "test": item.nodeid,
        "worker": worker,
        "wall": round(time.monotonic() - wall, 3),
        "cpu": round(time.process_time() - cpu, 3),
        "children": round(_children_cpu() - children, 3),
        "load": round(os.getloadavg()[0], 2),
        "ended": round(time.time(), 1),
    }
    Path(directory).mkdir(parents=True, exist_ok=True)
    with open(Path(directory) / f"{worker}.jsonl", "a") as out:
        out.write(json.dumps(record) + "\n")


def load(directory: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted(directory.glob("*.jsonl")):
        records += [json.loads(line) for line in path.read_text().splitlines() if line]
    return records


def summary(records: list[dict[str, Any]], top: int) -> str:
    lines = []
    workers = sorted({r["worker"] for r in records})
    for worker in workers:
        mine = [r for r in records if r["worker"] == worker]
        lines.append(
            f"{worker}: {len(mine)} tests, {sum(r['wall'] for r in mine):.0f} s wall, "
            f"{sum(r['cpu'] for r in mine):.0f} CPU-s own + "
            f"{sum(r['children'] for r in mine):.0f} of children"
        )
    lines.append("")
    lines.append(f"{'wall':>7} {'cpu':>7} {'child':>7}  test")
    for r in sorted(records, key=lambda r: -r["wall"])[:top]:
        lines.append(f"{r['wall']:7.1f} {r['cpu']:7.1f} {r['children']:7.1f}  {r['test']}")
    lines.append("")
    lines.append("by file (wall, cpu + children):")
    files: dict[str, list[float]] = {}
    for r in records:
        acc = files.setdefault(r["test"].split("::")[0], [0.0, 0.0, 0])
        acc[0] += r["wall"]
        acc[1] += r["cpu"] + r["children"]
        acc[2] += 1
    for name, (wall, cpu, count) in sorted(files.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"{wall:7.1f} {cpu:7.1f} {int(count):5d}  {name}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.suitetimes")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    print(summary(load(args.directory), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How fast `kidp` starts (issue 13): the installed console script, as a shell runs it.

Commands, each run `repeat` times, interleaved (one of each, then again) so that a busy
moment of the shared machine spreads over all of them:

    bare                python -c pass, the same interpreter: what any Python program pays
    version             kidp version
    help                kidp --help
    get_help            kidp get --help
    complete_commands   TAB after `kidp get ` (typer's bash completion): names of commands
    complete_names      TAB after `kidp reconcile ks `: the Kustomizations of flux-system,
                        one LIST from an API server on loopback

For each: wall time and CPU time (user + system of the process) in ms, best and median,
and the same over bare Python (best minus best, median minus median). The API server of
`complete_names` is a stub that answers that one LIST (kidp's cost is what is measured;
a real API server adds its LIST, a few ms on loopback). Then `python -X importtime`
of `kidp version` and `kidp --help`: the imports that cost most (cumulative, top level),
and which heavy packages each command loaded (the cluster client, the API types, the
controllers must not be among them; pydantic comes with typer ≥ 0.29, which coerces
every parameter through it).
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from bench import measure
from bench.scenarios import Settings

KIDP = str(Path(sys.executable).parent / "kidp")
NAMES = ("apps", "infrastructure", "monitoring")
HEAVY = (
    "aiohttp",
    "kubernetes_asyncio",
    "pydantic",
    "kidp_gitops.kube",
    "kidp_gitops.api.meta",  # the API types (api/resources.py, the plain table, is not)
    "kidp_gitops.runtime",
    "kidp_gitops.engine",
    "kidp_gitops.kustomize",
    "kidp_gitops.helm",
    "kidp_gitops.source",
    "kidp_gitops.install",
    "kidp_gitops.devcluster",
)


def commands(kubeconfig: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name → (argv, extra environment)."""

    def complete(words: str) -> dict[str, str]:
        return {
            "_KIDP_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
            "KUBECONFIG": str(kubeconfig),
        }

    return {
        "bare": ([sys.executable, "-c", "pass"], {}),
        "version": ([KIDP, "version"], {}),
        "help": ([KIDP, "--help"], {}),
        "get_help": ([KIDP, "get", "--help"], {}),
        "complete_commands": ([KIDP], complete("kidp get ")),
        "complete_names": ([KIDP], complete("kidp reconcile ks ")),
    }


async def _once(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall ms, CPU ms (user + system) and stdout of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, "NO_COLOR": "1", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate()
    wall = (time.perf_counter() - began) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu, out.decode()


def _figures(values: list[float], bare: list[float]) -> dict[str, Any]:
    st = measure.stats(values, 1)
    base = measure.stats(bare, 1)
    return {
        "best": st["min"],
        "median": st["median"],
        "over_bare_best": round(st["min"] - base["min"], 1),
        "over_bare_median": round(st["median"] - base["median"], 1),
        "values": st["values"],
    }


def importtime(argv: list[str]) -> dict[str, Any]:
    """The top-level imports of one run by cumulative time (µs), and the heavy packages
    it loaded."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=60,
        check=False,
    )
    top: list[tuple[str, int]] = []
    loaded: set[str] = set()
    total = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if not cumulative.strip().isdigit():
            continue  # the header line
        module = name.strip()
        loaded.add(module)
        if not name.startswith("  "):  # depth 0: imported by the program itself
            top.append((module, int(cumulative)))
            total += int(cumulative)
    top.sort(key=lambda item: -item[1])
    heavy = sorted(h for h in HEAVY if any(m == h or m.startswith(h + ".") for m in loaded))
    return {
        "total_ms": round(total / 1000, 1),
        "top_ms": {name: round(us / 1000, 1) for name, us in top[:8]},
        "modules": len(loaded),
        "heavy_loaded": heavy,
    }


async def _stub_api() -> tuple[web.AppRunner, int]:
    """An API server on loopback that answers the LIST of any namespaced resource; and
    its port."""

    async def listing(request: web.Request) -> web.Response:
        namespace = request.match_info["namespace"]
        items = [{"metadata": {"name": n, "namespace": namespace}} for n in NAMES]
        return web.json_response({"items": items, "metadata": {"resourceVersion": "1"}})

    app = web.Application()
    app.router.add_get("/apis/{group}/{version}/namespaces/{namespace}/{plural}", listing)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])


def _kubeconfig(path: Path, port: int) -> None:
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: bench\n"
        f"clusters:\n- name: bench\n  cluster:\n    server: http://127.0.0.1:{port}\n"
        "users:\n- name: bench\n  user:\n    token: bench\n"
        "contexts:\n- name: bench\n  context:\n    cluster: bench\n    user: bench\n"
    )


async def _quiet(settings: Settings, max_wait: float = 60.0, cores: float = 0.25) -> float:
    """Wait (at most `max_wait` s) until the machine uses less than `cores` of CPU
    (2-second windows); returns the last figure."""
    deadline = time.monotonic() + max_wait
    while True:
        start = measure.machine_busy_s()
        await asyncio.sleep(2.0)
        busy = (measure.machine_busy_s() - start) / 2.0
        if busy < cores or time.monotonic() > deadline:
            if busy >= cores:
                settings.say(f"the machine keeps {busy:.2f} cores busy; measuring anyway")
            return round(busy, 2)


async def run(settings: Settings, *, repeat: int = 7) -> dict[str, Any]:
    runner, port = await _stub_api()
    try:
        with tempfile.TemporaryDirectory(prefix="kidp-bench-cli-") as tmp:
            kubeconfig = Path(tmp) / "kubeconfig"
            _kubeconfig(kubeconfig, port)
            return await _run(settings, commands(kubeconfig), repeat)
    finally:
        await runner.cleanup()


async def _run(
    settings: Settings, cmds: dict[str, tuple[list[str], dict[str, str]]], repeat: int
) -> dict[str, Any]:
    busy_before = await _quiet(settings)
    wall: dict[str, list[float]] = {name: [] for name in cmds}
    cpu: dict[str, list[float]] = {name: [] for name in cmds}
    outputs: dict[str, str] = {}
    for name, (argv, env) in cmds.items():  # warm the page cache and .pyc files
        outputs[name] = (await _once(argv, env))[2]
    settings.say(f"cli: {repeat} rounds of {', '.join(cmds)}")
    for _ in range(repeat):
        for name, (argv, env) in cmds.items():
            w, c, _ = await _once(argv, env)
            wall[name].append(w)
            cpu[name].append(c)
    completed = outputs["complete_names"].split()
    return {
        "repeat": repeat,
        "others_cores_before": busy_before,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "wall_ms": {name: _figures(wall[name], wall["bare"]) for name in cmds},
        "cpu_ms": {name: _figures(cpu[name], cpu["bare"]) for name in cmds},
        "complete_names_answer": completed,
        "complete_names_ok": sorted(completed) == sorted(NAMES),
        "importtime": {
            "version": importtime([KIDP, "version"]),
            "help": importtime([KIDP, "--help"]),
        },
    }

"""`python -m bench.controlplane`: see bench/controlplane/__init__.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import controlplane, measure
from bench.controlplane.load import Load
from bench.controlplane.variants import VARIANTS, Variant, applied, named
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.install import apply as install_apply
from kidp_gitops.install import manifests
from kidp_gitops.kube import ApiError, KubeClient, load_config

RESULTS = Path(__file__).resolve().parents[1] / "results"
COMPONENTS = measure.CONTROL_PLANE

# ---- one run -------------------------------------------------------------------------


def _cpu(pids: Mapping[str, int]) -> dict[str, float]:
    return {name: measure.cpu(pid).self_s for name, pid in pids.items()}


def _less(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before[k], 2) for k in after}


async def _fetch(kube: KubeClient, path: str, timeout: float) -> bytes:
    """GET a non-API path of the API server (/metrics, /debug/pprof/…) as the admin."""
    config = kube.config
    headers = {}
    if auth := await config.authorization():
        headers["Authorization"] = auth
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
        http.get(config.server.rstrip("/") + path, ssl=config.ssl_context, headers=headers) as r,
    ):
        r.raise_for_status()
        return await r.read()


async def _served(kube: KubeClient) -> Counter[str]:
    """Requests the API server has answered (apiserver_request_total, every client), by
    verb and resource."""
    text = (await _fetch(kube, "/metrics", 60)).decode()
    counts: Counter[str] = Counter()
    for labels, value in measure.select(measure.parse(text), "apiserver_request_total"):
        resource = "/".join(filter(None, (labels.get("resource"), labels.get("subresource"))))
        counts[f"{labels.get('verb', '')} {resource or labels.get('component', '')}"] += int(value)
    return counts


def _top(counts: Counter[str], n: int = 12) -> dict[str, int]:
    return dict(counts.most_common(n))


async def _profile(kube: KubeClient, seconds: int, out: Path) -> None:
    """A CPU profile of the API server (needs `--profiling=true`), written to `out`."""
    body = await _fetch(kube, f"/debug/pprof/profile?seconds={seconds}", seconds + 60)
    await asyncio.to_thread(out.write_bytes, body)


@dataclass(frozen=True)
class Options:
    n: int
    settle: float
    idle: float
    drain: float
    pprof: Path | None
    pprof_seconds: int


async def one_run(variant: Variant, opts: Options, root: Path) -> dict[str, Any]:
    dev = DevCluster(root / "devcluster")
    began = time.monotonic()
    with applied(variant):
        await dev.up()
    result: dict[str, Any] = {
        "variant": variant.name,
        "args": variant.args,
        "env": variant.env,
        "up_s": round(time.monotonic() - began, 2),
    }
    try:
        st = dev.state()
        assert st is not None
        pids = {name: st.pids[name] for name in COMPONENTS}
        async with KubeClient(await load_config(dev.kubeconfig), timeout=120) as kube:
            await install_apply.install(kube, manifests.manifests(controllers=False))
            await asyncio.sleep(opts.settle)

            idle_served = await _served(kube)
            start = _cpu(pids)
            t0 = time.monotonic()
            await asyncio.sleep(opts.idle)
            idle_wall = time.monotonic() - t0
            idle = _less(_cpu(pids), start)
            idle_served = await _served(kube) - idle_served
            per_min = {k: round(v * 60 / idle_wall, 3) for k, v in idle.items()}

            served_before = await _served(kube)
            load = Load(kube, opts.n)
            profile = None
            if opts.pprof is not None:
                opts.pprof.mkdir(parents=True, exist_ok=True)
                out = opts.pprof / f"{variant.name}-{int(time.time())}.pprof"
                profile = asyncio.create_task(_profile(kube, opts.pprof_seconds, out))
            start = _cpu(pids)
            t0 = time.monotonic()
            try:
                await load.run()
                load_wall = time.monotonic() - t0
                await asyncio.sleep(opts.drain)
                wall = time.monotonic() - t0
                used = _less(_cpu(pids), start)
                if profile is not None:
                    await profile
            finally:
                if profile is not None and not profile.done():
                    profile.cancel()
            served = await _served(kube) - served_before
        requests = sum(load.sent.values())
        net = {k: round(v - per_min[k] * wall / 60, 3) for k, v in used.items()}
        result.update(
            {
                "idle_s": round(idle_wall, 1),
                "idle_cpu_s_per_min": per_min,
                "load_wall_s": round(load_wall, 2),
                "window_s": round(wall, 2),
                "load_requests": requests,
                "load_requests_by_kind": dict(load.sent),
                "waited_s": load.waited,
                "served_requests": served.total(),
                "served_requests_top": _top(served),
                "idle_served_per_min": round(idle_served.total() * 60 / idle_wall),
                "idle_served_top": _top(idle_served),
                "cpu_s": used,
                "net_cpu_s": net,
                "per_1000_requests": {k: round(v * 1000 / requests, 3) for k, v in net.items()},
                "memory_mib": {name: measure.memory_mib(pid) for name, pid in pids.items()},
            }
        )
    finally:
        dev.down()
    return result


# ---- reporting ------------------------------------------------------------------------


def _med(values: Sequence[float], digits: int = 2) -> str:
    """The median, and [min, max] when they differ."""
    s = measure.stats(values, digits)
    shown = {k: int(s[k]) if digits == 0 else s[k] for k in ("median", "min", "max")}
    if shown["min"] == shown["max"]:
        return f"{shown['median']}"
    return f"{shown['median']} [{shown['min']}, {shown['max']}]"


SHORT = {"kube-apiserver": "apiserver", "kube-controller-manager": "kcm", "kube-scheduler": "sched"}


def _row(name: str, mine: Sequence[Mapping[str, Any]]) -> list[str]:
    """One variant's cells: its runs' medians."""

    def each(key: str, digits: int = 2) -> str:
        return " / ".join(_med([r[key][c] for r in mine], digits) for c in COMPONENTS)

    def waited(what: str) -> str:
        return _med([r.get("waited_s", {}).get(what, 0.0) for r in mine], 1)

    rss = " / ".join(
        _med([r["memory_mib"][c].get("VmRSS", 0.0) for r in mine], 0)
        for c in ("kube-apiserver", "etcd", "kube-controller-manager")
    )
    requests = _med([r["load_requests"] for r in mine], 0)
    served = _med([r["served_requests"] for r in mine], 0)
    return [
        name,
        str(len(mine)),
        f"{requests} ({served})",
        each("per_1000_requests"),
        _med([sum(r["per_1000_requests"].values()) for r in mine]),
        each("idle_cpu_s_per_min"),
        _med([sum(r["idle_cpu_s_per_min"].values()) for r in mine]),
        _med([r.get("idle_served_per_min", 0) for r in mine], 0),
        rss,
        f"{waited('deployments available')} / {waited('namespaces gone')}",
    ]


def table(runs: Sequence[Mapping[str, Any]]) -> str:
    """Medians [min, max] per variant, in the order the variants first ran."""
    order: list[str] = []
    for r in runs:
        if r["variant"] not in order:
            order.append(r["variant"])
    names = " / ".join(SHORT.get(c, c) for c in COMPONENTS)
    head = [
        "variant",
        "runs",
        "load requests (served, all clients)",
        f"CPU-s per 1,000 load requests: {names}",
        "total",
        f"idle CPU-s per minute: {names}",
        "total",
        "idle requests per minute",
        "RSS MiB: apiserver / etcd / kcm",
        "s to rollout / namespaces gone",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in order:
        mine = [r for r in runs if r["variant"] == name and "per_1000_requests" in r]
        if not mine:
            lines.append(f"| {name} | 0 (failed) |" + " |" * (len(head) - 2))
            continue
        lines.append("| " + " | ".join(_row(name, mine)) + " |")
    return "\n".join(lines)


# ---- entry point ----------------------------------------------------------------------


def _custom(sets: Sequence[str], envs: Sequence[str]) -> Variant:
    args: dict[str, list[str]] = {}
    env: dict[str, dict[str, str]] = {}
    for s in sets:
        component, _, flag = s.partition(":")
        args.setdefault(component, []).append(flag)
    for e in envs:
        component, _, pair = e.partition(":")
        key, _, value = pair.partition("=")
        env.setdefault(component, {})[key] = value
    name = " ".join([*sets, *envs])
    return Variant(name, args, env)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.controlplane",
        description=controlplane.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--variants",
        default="baseline",
        help=f"comma-separated among {', '.join(VARIANTS)}; a+b: both changes",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="COMPONENT:--FLAG[=V]",
        help="one more variant: this flag changed (repeatable; with --env, one variant)",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="COMPONENT:K=V",
        help="one more variant: this environment (`*` for every component)",
    )
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--n", type=int, default=300, help="the load's size (see above)")
    p.add_argument("--settle", type=float, default=20.0)
    p.add_argument("--idle", type=float, default=40.0)
    p.add_argument("--drain", type=float, default=5.0)
    p.add_argument(
        "--pprof", type=Path, help="save a CPU profile of the API server under the load here"
    )
    p.add_argument("--pprof-seconds", type=int, default=30)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--report", nargs="+", type=Path, help="print the table of earlier result files")
    return p.parse_args(argv)


async def amain(args: argparse.Namespace) -> int:
    variants = [named(v) for v in args.variants.split(",") if v]
    if args.set or args.env:
        variants.append(_custom(args.set, args.env))
    if args.pprof is not None:
        profiled = {"kube-apiserver": ["--profiling=true"]}
        variants = [
            Variant(
                v.name,
                {
                    **v.args,
                    "kube-apiserver": [
                        *v.args.get("kube-apiserver", ()),
                        *profiled["kube-apiserver"],
                    ],
                },
                v.env,
            )
            for v in variants
        ]
    opts = Options(args.n, args.settle, args.idle, args.drain, args.pprof, args.pprof_seconds)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"controlplane-{time.strftime('%Y%m%d-%H%M%S')}.json"
    doc: dict[str, Any] = {
        "argv": sys.argv,
        "machine": measure.machine(),
        "source": measure.source_tree(),
        "options": {k: str(v) for k, v in vars(args).items()},
        "runs": [],
    }
    for rep in range(args.repeat):
        for variant in variants:
            root = Path(tempfile.mkdtemp(prefix="kidp-cpcost-"))
            try:
                run = await one_run(variant, opts, root)
            except (ApiError, TimeoutError, OSError, RuntimeError) as exc:
                run = {"variant": variant.name, "error": f"{type(exc).__name__}: {exc}"}
            finally:
                shutil.rmtree(root, ignore_errors=True)
            run["repetition"] = rep
            run["loadavg"] = [round(x, 2) for x in os.getloadavg()]
            doc["runs"].append(run)
            out.write_text(json.dumps(doc, indent=2))
            print(
                json.dumps(
                    {
                        k: run.get(k)
                        for k in (
                            "variant",
                            "loadavg",
                            "per_1000_requests",
                            "idle_cpu_s_per_min",
                            "error",
                        )
                    }
                ),
                flush=True,
            )
    doc["machine_end"] = measure.machine()
    out.write_text(json.dumps(doc, indent=2))
    print(table(doc["runs"]))
    print(f"results: {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.report:
        runs = [r for path in args.report for r in json.loads(path.read_text())["runs"]]
        print(table(runs))
        return 0
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())

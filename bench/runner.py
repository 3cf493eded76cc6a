"""`python -m bench`: pick scenarios and sizes, run them, write the results.

    python -m bench                          quick mode (development; ~8 min)
    python -m bench --full                   the sizes of issue #7 (N = 100, 500, 1000, …)
    python -m bench --only mttp --n 1000 --repeat 3 --layouts one
    python -m bench --only mttp --n 1000 --repeat 1 --profile mttp
    python -m bench --only shards            300 Kustomizations over 3 kustomize shards
    python -m bench --only cli               how fast `kidp` starts (no control plane)
    python -m bench --only ceiling --n 1000 --n 3000 --processes 1,3 --steady 180
                                             issue 20's ceiling (never in the default run)
    python -m bench --only helm --n 100 --repeat 2 --helm-engine kidp,flux
                                             HelmReleases under kidp's engine and under
                                             Flux's controllers, interleaved

Results: bench/results/<timestamp>.json (everything, with a `summary` of one number per
headline figure and the `goals` it is held against) and <timestamp>.md (the table).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import fluxcontrollers, helmreport, measure, report
from bench.scenarios import Settings, ceiling, cli, helm, kustomize, mttp, oci, push, shards, source

SCENARIOS = ("mttp", "push", "oci", "source", "kustomize", "shards", "cli")
LONG = ("ceiling", "helm")
"""Scenarios run only when named in `--only`: the ceiling (hours at its sizes) and the
HelmRelease waves (`helm`, N = the mttp sizes, each repeated)."""
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Sizes:
    n: list[int]
    layouts: list[str]
    repeat: int
    steady_window: float
    steady_n: int | None  # the N whose last "one" run continues into steady state
    push_requested: int
    push_polled: int
    drift: int
    source_repos: int
    source_interval: float
    source_intervals: int
    source_pushes: int
    kustomize_objects: int
    kustomize_repeat: int
    kustomize_idle: int
    shards_kustomizations: int = 300
    shards_count: int = 3
    cli_repeat: int = 7
    extra: dict[str, Any] = field(default_factory=dict)


QUICK = Sizes(
    n=[50],
    layouts=["one", "many"],
    repeat=5,
    steady_window=65,
    steady_n=None,
    push_requested=8,
    push_polled=5,
    drift=8,
    source_repos=20,
    source_interval=30,
    source_intervals=2,
    source_pushes=8,
    kustomize_objects=100,
    kustomize_repeat=3,
    kustomize_idle=1,
)
FULL = Sizes(
    n=[100, 500, 1000],
    layouts=["one", "many"],
    repeat=3,
    steady_window=180,
    steady_n=None,
    push_requested=20,
    push_polled=20,
    drift=20,
    source_repos=100,
    source_interval=60,
    source_intervals=3,
    source_pushes=20,
    kustomize_objects=100,
    kustomize_repeat=5,
    kustomize_idle=2,
)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="the sizes of the issue (default: quick)")
    p.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated: {','.join(SCENARIOS + LONG)}",
    )
    p.add_argument("--n", type=int, action="append", help="Kustomizations for mttp (repeatable)")
    p.add_argument(
        "--layouts", help="one,many,oci: one GitRepository, one per ten apps, or one OCIRepository"
    )
    p.add_argument("--repeat", type=int, help="repetitions of each mttp size")
    p.add_argument("--steady", type=float, help="seconds of steady state after mttp (0: none)")
    p.add_argument("--steady-n", type=int, help="the N that continues into steady state")
    p.add_argument(
        "--timeout",
        type=float,
        help="seconds an mttp run (default max(180, 0.6 N)) or a helm wave (default 600) may take",
    )
    p.add_argument("--no-restart", action="store_true", help="skip the restart scenario")
    p.add_argument(
        "--processes",
        default="1,3",
        help="ceiling: engine layouts, comma-separated (1: one process; K: K shard processes)",
    )
    p.add_argument("--commits", type=int, help="commits per push series and drift changes")
    p.add_argument("--source-repos", type=int)
    p.add_argument("--profile", choices=SCENARIOS + LONG, help="run the engine under py-spy here")
    p.add_argument(
        "--engine-arg",
        action="append",
        default=[],
        help="extra engine flag, e.g. --engine-arg=--concurrency=8",
    )
    p.add_argument(
        "--helm-engine",
        default="kidp",
        help="helm: who reconciles the HelmReleases, comma-separated: kidp, flux "
        "(Flux's source-controller and helm-controller, built from --flux-src); "
        "kidp,flux runs both in each repetition",
    )
    p.add_argument(
        "--flux-src",
        type=Path,
        default=fluxcontrollers.DEFAULT_MIRRORS,
        help="the root of the bare git mirrors fluxcd+<controller>/repo to build Flux's "
        "controllers from (once; then cached)",
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument(
        "--work", type=Path, help="where the environments live (default: $TMPDIR/kidp-bench)"
    )
    p.add_argument("--keep", action="store_true", help="keep each environment's data")
    p.add_argument(
        "--report", type=Path, metavar="RESULT.json", help="print the table of a result file"
    )
    return p.parse_args(argv)


def sizes(args: argparse.Namespace) -> Sizes:
    s = Sizes(**vars(FULL if args.full else QUICK))
    if args.n:
        s.n = args.n
    if args.layouts:
        s.layouts = args.layouts.split(",")
    if args.repeat:
        s.repeat = args.repeat
    if args.steady is not None:
        s.steady_window = args.steady
    s.steady_n = args.steady_n or max(s.n)
    if args.commits:
        s.push_requested = s.push_polled = s.drift = args.commits
    if args.source_repos:
        s.source_repos = args.source_repos
    return s


def changed(args: argparse.Namespace) -> bool:
    """Whether any size was set on the command line."""
    sizes_flags = ("n", "layouts", "repeat", "steady", "steady_n", "commits", "source_repos")
    return any(getattr(args, f) is not None for f in sizes_flags) or args.timeout is not None


async def run_mttp(s: Sizes, settings: Settings, restart: bool, profile: bool) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    aggregates = []
    steady: dict[str, Any] | None = None
    restarts = []
    failed: list[dict[str, Any]] = []
    for n in s.n:
        for layout in s.layouts:
            group = []
            for rep in range(s.repeat):
                last = rep == s.repeat - 1 and layout == s.layouts[0]
                try:
                    r = await mttp.run(
                        n,
                        layout,
                        settings,
                        steady_window=s.steady_window if last and n == s.steady_n else 0.0,
                        restart=restart and last,
                        profile=profile and last and n == max(s.n),
                    )
                except Exception as err:  # one failed repetition must not lose the others
                    settings.say(f"mttp n={n} {layout} #{rep} failed: {type(err).__name__}: {err}")
                    failed.append({"n": n, "layout": layout, "repetition": rep, "error": str(err)})
                    continue
                r["repetition"] = rep
                group.append(r)
                if "steady" in r:
                    steady = r.pop("steady")
                if "restart" in r:
                    restarts.append({"n": n, "layout": layout, **r.pop("restart")})
            runs += group
            if group:
                aggregates.append(report.aggregate_mttp(group))
    return {
        "aggregates": aggregates,
        "failed_runs": failed,
        "steady": steady,
        "steady_n": s.steady_n,
        "restarts": restarts,
        "runs": runs,
    }


async def run_ceiling(
    args: argparse.Namespace, settings: Settings, out: dict[str, Any], save: Callable[[], None]
) -> None:
    """Each N (smallest first; 1000 unless `--n`) in each layout of `--processes`,
    `--repeat` times (once by default); a steady state of `--steady` seconds (180 by
    default) after each. Fills `out`, saving the result file after each run (a run of
    N = 10,000 takes most of an hour)."""
    sizes = sorted(args.n or [1000])
    processes = [int(x) for x in args.processes.split(",") if x]
    steady = 180.0 if args.steady is None else args.steady
    profile = args.profile == "ceiling"
    runs: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for n in sizes:
        for count in processes:
            for rep in range(args.repeat or 1):
                try:
                    r = await ceiling.run(
                        n,
                        count,
                        settings,
                        steady_window=steady,
                        profile=profile and n == sizes[-1] and rep == 0,
                    )
                except Exception as err:  # one failed run must not lose the others
                    settings.say(f"ceiling n={n} p={count} #{rep} failed: {err!r}")
                    failed.append(
                        {"n": n, "processes": count, "repetition": rep, "error": repr(err)}
                    )
                else:
                    r["repetition"] = rep
                    runs.append(r)
                out.update(runs=runs, failed_runs=failed, aggregates=report.aggregate_ceiling(runs))
                save()


def helm_engines(value: str) -> list[str]:
    engines = [e for e in value.split(",") if e]
    unknown = [e for e in engines if e not in helm.ENGINES]
    if unknown or not engines or len(set(engines)) != len(engines):
        raise SystemExit(f"--helm-engine {value!r}: a list of {', '.join(helm.ENGINES)}")
    return engines


def interleaved(engines: list[str], repetition: int) -> list[str]:
    """The engines in the order of one repetition: the first goes first in even
    repetitions, last in odd ones, so neither always runs right after the other (a warm
    page cache, a machine whose other users' load drifts)."""
    return engines if repetition % 2 == 0 else engines[::-1]


async def run_helm(
    args: argparse.Namespace,
    s: Sizes,
    settings: Settings,
    out: dict[str, Any],
    save: Callable[[], None],
) -> None:
    """Each N, `--repeat` times, each engine of `--helm-engine` once per repetition;
    saves the result file after each run."""
    engines = helm_engines(args.helm_engine)
    flux = None
    if "flux" in engines:
        flux = await asyncio.to_thread(fluxcontrollers.ensure_built, args.flux_src)
    runs: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for n in s.n:
        for rep in range(s.repeat):
            for engine in interleaved(engines, rep):
                profile = args.profile == "helm" and rep == 0
                try:
                    r = await helm.run(
                        settings,
                        n,
                        engine=engine,
                        flux=flux,
                        profile=profile,
                        timeout=args.timeout or 600.0,
                    )
                except Exception as err:  # one failed run must not lose the others
                    settings.say(f"helm n={n} {engine} #{rep} failed: {err!r}")
                    failed.append({"n": n, "engine": engine, "repetition": rep, "error": repr(err)})
                else:
                    r["repetition"] = rep
                    runs.append(r)
                out.update(runs=runs, failed_runs=failed, aggregates=helmreport.aggregate(runs))
                save()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    s = sizes(args)
    only = [x for x in args.only.split(",") if x]
    if "helm" in only:
        helm_engines(args.helm_engine)  # a wrong list stops here, not after other scenarios
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    settings = Settings(engine_args=args.engine_arg, keep=args.keep, profile=args.profile)
    settings.mttp_timeout = args.timeout
    if args.work:
        settings.work_root = args.work
    if args.profile:
        settings.profile_dir = args.out / f"{stamp}-profile"
    result: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "mode": ("full" if args.full else "quick") + (" (sizes changed)" if changed(args) else ""),
        "argv": sys.argv[1:],
        "machine": measure.machine(),
        "engine_source": {"at_start": measure.source_tree()},
        "sizes": vars(s),
        "scenarios": {},
    }
    began = time.monotonic()
    out_json = args.out / f"{stamp}.json"

    def save() -> None:
        result["took_s"] = round(time.monotonic() - began, 1)
        result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        result["engine_source"]["at_end"] = measure.source_tree()
        result["summary"] = report.summary(result["scenarios"])
        result["goals"] = report.goals(result["summary"])
        out_json.write_text(json.dumps(result, indent=1, default=str))
        (args.out / f"{stamp}.md").write_text(report.table(result) + "\n")

    for name in only:
        settings.say(f"==== scenario {name}")
        try:
            if name == "mttp":
                result["scenarios"]["mttp"] = await run_mttp(
                    s, settings, not args.no_restart, args.profile == "mttp"
                )
            elif name == "ceiling":
                result["scenarios"]["ceiling"] = {}
                await run_ceiling(args, settings, result["scenarios"]["ceiling"], save)
            elif name == "push":
                result["scenarios"]["push"] = await push.run(
                    settings,
                    requested=s.push_requested,
                    polled=s.push_polled,
                    drift_changes=s.drift,
                )
            elif name == "oci":
                result["scenarios"]["oci"] = await oci.run(settings, pushes=s.push_requested)
            elif name == "source":
                result["scenarios"]["source"] = await source.run(
                    settings,
                    repos=s.source_repos,
                    interval=s.source_interval,
                    intervals=s.source_intervals,
                    pushes=s.source_pushes,
                )
            elif name == "shards":
                result["scenarios"]["shards"] = await shards.run(
                    settings, kustomizations=s.shards_kustomizations, shards=s.shards_count
                )
            elif name == "cli":
                result["scenarios"]["cli"] = await cli.run(settings, repeat=s.cli_repeat)
            elif name == "kustomize":
                result["scenarios"]["kustomize"] = await kustomize.run(
                    settings,
                    objects=s.kustomize_objects,
                    repetitions=s.kustomize_repeat,
                    drift_changes=s.drift,
                    idle_intervals=s.kustomize_idle,
                )
            elif name == "helm":
                result["scenarios"]["helm"] = {}
                await run_helm(args, s, settings, result["scenarios"]["helm"], save)
            else:
                known = ", ".join(SCENARIOS + LONG)
                raise SystemExit(f"unknown scenario {name!r}; choose from {known}")
        except Exception as err:  # one failed scenario must not lose the others
            settings.say(f"scenario {name} failed: {type(err).__name__}: {err}")
            result.setdefault("failures", {})[name] = f"{type(err).__name__}: {err}"
        save()
    save()
    print()
    print(report.table(result))
    print(f"results: {out_json}")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.report:
        result = json.loads(args.report.read_text())
        report.reaggregate(result["scenarios"])
        result["summary"] = report.summary(result["scenarios"])
        result["goals"] = report.goals(result["summary"])
        print(report.table(result))
        return 0
    result = asyncio.run(run(args))
    return 1 if result.get("failures") else 0

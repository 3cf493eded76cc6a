"""Scenarios 1, 4 and 5 of issue #7, on one fresh environment per repetition.

(1) Mean time to production. N Kustomizations, each applying a ServiceAccount, a
    ConfigMap, a Service and a Deployment scaled to 0 into its own (pre-created)
    namespace, from one GitRepository (layout "one") or from N/10 GitRepositories
    (layout "many", ten apps per repository), or from one OCIRepository (layout "oci":
    the same tree pushed once as one artifact to a loopback registry, as "one" commits
    it once). The clock starts before the first
    source is created and stops at the watch event that shows the last
    Kustomization Ready at its source's revision. Not timed: seeding git (or pushing
    the artifact), creating
    the namespaces, starting the engine (its start-up time is reported on its own).

(4) Steady state, right after (1) on the same environment (interval 1m everywhere):
    nothing changes for `window` seconds; per whole minute: engine writes and API
    requests by method, engine CPU %, RSS, git requests, and the API server's own count
    of real (non-dry-run) writes.

(5) Restart, right after (4): SIGTERM the engine, start it again with the same data
    directory, and time until the new process has reconciled every object and reports
    it Ready (its `gotk_reconcile_condition` gauges, polled every second, or every 4
    times the scrape's own duration when the metrics page is big) while the cluster
    shows the current revision; the writes the new process made by then and `settle`
    seconds later (by its own metric, dry runs counted apart).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from bench import gitwork, measure
from bench.env import NAMESPACE, BenchEnv
from bench.profile import Profiler
from bench.scenarios import RssSampler, Settings, fresh_env, oci, quiet
from bench.watch import GITREPOSITORY, KUSTOMIZATION, Watch, artifact_at, ready_at

APPS_PER_REPO = 10


def plan(n: int, layout: str) -> dict[str, list[int]]:
    """Repository name → the app indexes it holds."""
    if layout in ("one", "oci"):
        return {"apps": list(range(n))}
    repos = max(1, (n + APPS_PER_REPO - 1) // APPS_PER_REPO)
    return {
        f"apps-{r:03d}": list(range(r * APPS_PER_REPO, min(n, (r + 1) * APPS_PER_REPO)))
        for r in range(repos)
    }


def app_name(i: int) -> str:
    return f"app-{i:04d}"


async def seed(
    env: BenchEnv, n: int, layout: str, pusher: oci.Pusher | None
) -> tuple[dict[str, list[int]], dict[str, str]]:
    """Each source's apps, and source name → the revision its Kustomizations are Ready
    at (a commit, or for layout "oci" the artifact's manifest digest)."""
    repos = plan(n, layout)
    shas: dict[str, str] = {}
    limit = asyncio.Semaphore(4)

    async def one(repo: str, apps: list[int]) -> None:
        files: dict[str, str] = {}
        for i in apps:
            files.update(gitwork.app_files(f"apps/{app_name(i)}", app_name(i), prefix=app_name(i)))
        async with limit:
            if pusher is not None:
                shas[repo] = await pusher.push(files, "1.0.0")
            else:
                assert env.repos is not None
                shas[repo] = await env.repos.create(repo, files)

    await asyncio.gather(*(one(r, a) for r, a in repos.items()))
    await env.create_many(
        [("/api/v1/namespaces", {"metadata": {"name": app_name(i)}}) for i in range(n)]
    )
    return repos, shas


async def run(
    n: int,
    layout: str,
    settings: Settings,
    *,
    steady_window: float = 0.0,
    restart: bool = False,
    settle: float = 10.0,
    profile: bool = False,
) -> dict[str, Any]:
    async with fresh_env(settings, f"mttp-n{n}-{layout}") as env, _pusher(layout) as pusher:
        return await _run(env, n, layout, pusher, settings, steady_window, restart, settle, profile)


@contextlib.asynccontextmanager
async def _pusher(layout: str) -> AsyncIterator[oci.Pusher | None]:
    """For layout "oci": a registry and a pusher to it, for as long as the run lasts."""
    if layout != "oci":
        yield None
        return
    async with oci.registry() as host:
        pusher = oci.Pusher(host, "bench/apps")
        try:
            yield pusher
        finally:
            await pusher.close()


async def _run(
    env: BenchEnv,
    n: int,
    layout: str,
    pusher: oci.Pusher | None,
    settings: Settings,
    steady_window: float,
    restart: bool,
    settle: float,
    profile: bool,
) -> dict[str, Any]:
    assert env.kube is not None
    began = time.monotonic()
    repos, shas = await seed(env, n, layout, pusher)
    seed_s = time.monotonic() - began
    engine_start_s = await env.start_engine()
    settings.say(
        f"mttp n={n} {layout}: seeded in {seed_s:.1f}s, engine ready in {engine_start_s:.2f}s"
    )

    ks_watch = await Watch(env.kube, KUSTOMIZATION, NAMESPACE).start()
    source_kind = "GitRepository" if pusher is None else "OCIRepository"
    git_watch = await Watch(
        env.kube, GITREPOSITORY if pusher is None else oci.OCIREPOSITORY, NAMESPACE
    ).start()
    repo_of = {app_name(i): r for r, apps in repos.items() for i in apps}
    ks_done = ks_watch.track(
        [f"{NAMESPACE}/{app_name(i)}" for i in range(n)],
        ready_at(lambda obj: shas[repo_of[obj["metadata"]["name"]]]),
    )
    git_done = [git_watch.track([f"{NAMESPACE}/{r}"], artifact_at(shas[r])) for r in repos]

    if pusher is None:
        sources = [env.git_repository(r) for r in repos]
    else:
        sources = [
            oci.oci_repository(r, pusher.repository.url(), {"tag": "1.0.0"}, "1m") for r in repos
        ]
    kustomizations = [
        env.kustomization(
            app_name(i),
            repo_of[app_name(i)],
            f"./apps/{app_name(i)}",
            sourceRef={"kind": source_kind, "name": repo_of[app_name(i)]},
        )
        for i in range(n)
    ]
    others_before = await quiet(settings, env)
    engine_before = await env.scrape_engine()
    api_before = await env.scrape_apiserver()
    meter = env.meter()
    rss = RssSampler(env.engine_pid).start()
    profiler = None
    if profile and settings.profile_dir is not None and Profiler.available():
        profiler = Profiler(
            env.engine_pid, settings.profile_dir / f"mttp-n{n}-{layout}.txt"
        ).start()
    meter.start()
    t0 = time.monotonic()
    await env.create_many(sources)
    await env.create_many(kustomizations)
    created_s = time.monotonic() - t0
    timeout = settings.mttp_timeout or max(180.0, n * 0.6)
    try:
        await asyncio.wait_for(ks_done.done.wait(), timeout)
        timed_out = False
    except TimeoutError:
        timed_out = True
    t_end = max(ks_done.times.values(), default=time.monotonic())
    cpu = meter.stop()
    memory = await rss.stop()
    prof = profiler.stop() if profiler else None
    engine_after = await env.scrape_engine()
    api_after = await env.scrape_apiserver()

    ready_offsets = sorted(t - t0 for t in ks_done.times.values())
    source_offsets = [max(g.times.values()) - t0 for g in git_done if g.times]
    result: dict[str, Any] = {
        "n": n,
        "layout": layout,
        "repositories": len(repos),
        "timed_out": timed_out,
        "ready": len(ks_done.times),
        "mttp_s": None if timed_out else round(t_end - t0, 3),
        "timeout_s": timeout,
        "create_s": round(created_s, 3),
        "sources_ready_s": round(max(source_offsets), 3) if source_offsets else None,
        "first_ready_s": round(ready_offsets[0], 3) if ready_offsets else None,
        "half_ready_s": round(ready_offsets[len(ready_offsets) // 2], 3) if ready_offsets else None,
        "throughput_per_s": (
            round(len(ready_offsets) / (time.monotonic() - t0 if timed_out else t_end - t0), 2)
            if ready_offsets
            else None
        ),
        "engine_start_s": round(engine_start_s, 3),
        "others_cores_before": round(others_before, 2),
        "seed_s": round(seed_s, 2),
        "engine_cpu_s": cpu["cpu_s"].get("engine", {}),
        "engine_peak_rss_mib": memory.get("peak_rss_mib"),
        "engine_rss": memory,
        "cpu": cpu,
        "engine": measure.engine_summary(engine_before, engine_after),
        "apiserver_writes": measure.apiserver_writes(
            api_before, api_after, bench_writes=len(sources) + len(kustomizations)
        ),
        "env": env.timings,
    }
    if prof is not None:
        result["profile"] = prof
    settings.say(
        f"mttp n={n} {layout}: {result['ready']}/{n} Ready "
        f"{'by the timeout of ' + str(timeout) if timed_out else 'in ' + str(result['mttp_s'])}s, "
        f"engine cpu {sum(cpu['cpu_s'].get('engine', {}).values()):.1f}s, "
        f"peak rss {result['engine_peak_rss_mib']} MiB"
    )
    ks_watch.untrack(ks_done)
    if steady_window > 0 and not timed_out:
        result["steady"] = await steady(env, settings, steady_window)
    if restart and not timed_out:
        result["restart"] = await restart_engine(env, settings, n, len(repos), source_kind, settle)
    await ks_watch.stop()
    await git_watch.stop()
    return result


async def steady(env: BenchEnv, settings: Settings, window: float) -> dict[str, Any]:
    """Nothing changes for `window` seconds: per-minute figures."""
    settings.say(f"steady state: watching {window:.0f}s with no change")
    await asyncio.sleep(5)  # let the last status patches and events of (1) land
    minutes: list[dict[str, Any]] = []
    rss = RssSampler(env.engine_pid, period=1.0).start()
    engine_prev = await env.scrape_engine()
    api_prev = await env.scrape_apiserver()
    await env.git_stats(reset=True)
    end = time.monotonic() + window
    while time.monotonic() < end:
        meter = env.meter()
        meter.start()
        step = min(60.0, end - time.monotonic())
        await asyncio.sleep(step)
        cpu = meter.stop()
        engine_now = await env.scrape_engine()
        api_now = await env.scrape_apiserver()
        git = await env.git_stats(reset=True)
        per_min = 60.0 / cpu["wall_s"]
        summary = measure.engine_summary(engine_prev, engine_now)
        engine_cpu = cpu["cpu_s"].get("engine", {"self": 0.0, "children": 0.0})
        minutes.append(
            {
                "wall_s": cpu["wall_s"],
                "writes_per_min": round(summary["writes"] * per_min, 2),
                "requests_per_min": round(sum(summary["requests_by_method"].values()) * per_min, 1),
                "requests_by_method": summary["requests_by_method"],
                "reconciles": summary["reconciles"],
                "engine_cpu_pct": round(
                    100 * (engine_cpu["self"] + engine_cpu["children"]) / cpu["wall_s"], 2
                ),
                "control_plane_cpu_pct": round(
                    100
                    * sum(
                        v["self"] + v["children"]
                        for k, v in cpu["cpu_s"].items()
                        if k not in ("engine", "bench", "git-server")
                    )
                    / cpu["wall_s"],
                    2,
                ),
                "git": git["totals"],
                "apiserver_writes": measure.apiserver_writes(api_prev, api_now),
                "cpu": cpu,
            }
        )
        engine_prev, api_prev = engine_now, api_now
    memory = await rss.stop()
    full = [m for m in minutes if m["wall_s"] >= 50] or minutes
    out: dict[str, Any] = {
        "window_s": window,
        "minutes": minutes,
        "writes_per_min": measure.stats(m["writes_per_min"] for m in full),
        "requests_per_min": measure.stats(m["requests_per_min"] for m in full),
        "engine_cpu_pct": measure.stats(m["engine_cpu_pct"] for m in full),
        "control_plane_cpu_pct": measure.stats(m["control_plane_cpu_pct"] for m in full),
        "engine_rss": memory,
    }
    settings.say(
        f"steady state: writes/min {out['writes_per_min'].get('median')}, "
        f"requests/min {out['requests_per_min'].get('median')}, "
        f"engine cpu {out['engine_cpu_pct'].get('median')}%"
    )
    return out


def _ready_count(samples: measure.Samples, kind: str) -> int:
    return int(
        measure.total(samples, "gotk_reconcile_condition", kind=kind, type="Ready", status="True")
    )


async def restart_engine(
    env: BenchEnv, settings: Settings, n: int, repos: int, source_kind: str, settle: float
) -> dict[str, Any]:
    settings.say("restart: stopping the engine (SIGTERM)")
    stop_s = env.stop_engine()
    api_before = await env.scrape_apiserver()
    await env.git_stats(reset=True)
    t0 = time.monotonic()
    start_s = await env.start_engine()
    meter = env.meter()
    meter.start()
    scrapes = 0
    scrape_s = 0.0
    ready_s: float | None = None
    samples: measure.Samples = {}
    deadline = t0 + max(180.0, n * 0.6)
    while time.monotonic() < deadline:
        s0 = time.monotonic()
        samples = await env.scrape_engine()
        took = time.monotonic() - s0
        scrapes += 1
        scrape_s += took
        if (
            _ready_count(samples, "Kustomization") >= n
            and _ready_count(samples, source_kind) >= repos
        ):
            ready_s = s0 - t0
            break
        # A scrape costs the engine CPU (at N = 1000 its page is megabytes): poll at most
        # a fifth of the time, and at least once a second.
        await asyncio.sleep(max(1.0, 4 * took))
    at_ready = measure.engine_summary({}, samples)
    await asyncio.sleep(settle)
    after = await env.scrape_engine()
    cpu = meter.stop()
    api_after = await env.scrape_apiserver()
    git = await env.git_stats()
    settled = measure.engine_summary({}, after)
    out = {
        "engine_stop_s": round(stop_s, 3) if stop_s is not None else None,
        "engine_start_s": round(start_s, 3),
        "restart_to_ready_s": round(ready_s, 3) if ready_s is not None else None,
        "writes_at_ready": at_ready["writes"],
        "dry_runs_at_ready": at_ready["dry_runs"],
        "requests_at_ready": at_ready["requests_by_method"],
        "writes_after_settle": settled["writes"],
        "requests_after_settle": settled["requests_by_method"],
        "settle_s": settle,
        "reconciles": settled["reconciles"],
        "apiserver_writes": measure.apiserver_writes(api_before, api_after),
        "git": git["totals"],
        "cpu": cpu,
        "metric_scrapes": scrapes,
        "metric_scrape_mean_s": round(scrape_s / scrapes, 3) if scrapes else None,
        "peak_rss_mib": measure.memory_mib(env.engine_pid).get("VmHWM"),
    }
    settings.say(
        f"restart: ready in {out['restart_to_ready_s']}s, writes {out['writes_at_ready']} "
        f"({out['writes_after_settle']} after {settle:.0f}s more), "
        f"dry runs {out['dry_runs_at_ready']}"
    )
    return out

"""The kustomize-controller benchmark: one Kustomization of `objects` objects.

cold   a new Kustomization whose `objects` objects (ServiceAccounts, ConfigMaps,
       Services, Deployments scaled to 0) do not exist yet: from creating it to Ready
       at the commit. Repeated with a new Kustomization and namespace each time (the
       repository holds one directory per repetition), on one running engine.
warm   the same Kustomization again with every object in place and unchanged: a spec
       change that affects no object (spec.timeout) forces the full build, dry run and
       comparison; from the patch to Ready at the new generation. Ideally no object
       write, only the status.
drift  manual changes to its objects, time until corrected (see drift.py).
idle   nothing changes for `idle_intervals` intervals (1m): engine writes per interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench import gitwork, measure
from bench.env import NAMESPACE, BenchEnv
from bench.scenarios import Settings, drift, fresh_env
from bench.watch import KUSTOMIZATION, Watch, ready_at, ready_for_generation
from kidp_gitops.kube.client import JSON

REPO = "big"


def namespace(r: int) -> str:
    return f"big-{r}"


def _at_generation(generation: int) -> Callable[[JSON], bool]:
    return lambda o: o["metadata"].get("generation") == generation and ready_for_generation(o)


async def run(
    settings: Settings,
    *,
    objects: int = 100,
    repetitions: int = 5,
    drift_changes: int = 20,
    idle_intervals: int = 2,
) -> dict[str, Any]:
    async with fresh_env(settings, f"kustomize-{objects}") as env:
        return await _run(env, settings, objects, repetitions, drift_changes, idle_intervals)


async def _run(
    env: BenchEnv,
    settings: Settings,
    objects: int,
    repetitions: int,
    drift_changes: int,
    idle_intervals: int,
) -> dict[str, Any]:
    assert env.kube is not None
    assert env.repos is not None
    content: dict[str, str] = {}
    for r in range(repetitions):
        await env.ensure_namespace(namespace(r))
        content.update(gitwork.app_files(f"big-{r}", namespace(r), count=objects, prefix="obj"))
    # A first Kustomization of four objects, so the source, the engine's informers for
    # these kinds and its caches are up before the first measured apply.
    await env.ensure_namespace("big-warmup")
    content.update(gitwork.app_files("warmup", "big-warmup", prefix="warmup"))
    sha = await env.repos.create(REPO, content)
    await env.start_engine()
    ks_watch = await Watch(env.kube, KUSTOMIZATION, NAMESPACE).start()
    await env.create_many([env.git_repository(REPO)])
    await env.create_many([env.kustomization("warmup", REPO, "./warmup")])
    if await ks_watch.when(f"{NAMESPACE}/warmup", ready_at(sha), 120) is None:
        raise RuntimeError("the warm-up Kustomization never became Ready")

    cold = []
    for r in range(repetitions):
        name = f"big-{r}"
        engine_before = await env.scrape_engine()
        api_before = await env.scrape_apiserver()
        meter = env.meter()
        track = ks_watch.track([f"{NAMESPACE}/{name}"], ready_at(sha))
        meter.start()
        t0 = time.monotonic()
        await env.create_many([env.kustomization(name, REPO, f"./big-{r}")])
        try:
            await asyncio.wait_for(track.done.wait(), 180)
        except TimeoutError:
            settings.say(f"kustomize: {name} not Ready in 180s")
        ks_watch.untrack(track)
        when = track.times.get(f"{NAMESPACE}/{name}")
        cpu = meter.stop()
        cold.append(
            {
                "apply_s": None if when is None else when - t0,
                "engine": measure.engine_summary(engine_before, await env.scrape_engine()),
                "apiserver_writes": measure.apiserver_writes(
                    api_before, await env.scrape_apiserver(), bench_writes=1
                ),
                "cpu": cpu,
            }
        )
        await asyncio.sleep(1)
    settings.say(
        "kustomize cold: " + ", ".join(f"{c['apply_s']:.2f}s" for c in cold if c["apply_s"])
    )

    warm = []
    path = f"/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}/kustomizations/big-0"
    for r in range(repetitions):
        engine_before = await env.scrape_engine()
        api_before = await env.scrape_apiserver()
        meter = env.meter()
        meter.start()
        t0 = time.monotonic()
        patched = await env.kube.patch(path, {"spec": {"timeout": f"{5 + (r % 2)}m{r}s"}})
        generation = patched["metadata"]["generation"]
        when = await ks_watch.when(
            f"{NAMESPACE}/big-0",
            _at_generation(generation),
            180,
        )
        cpu = meter.stop()
        warm.append(
            {
                "apply_s": None if when is None else when - t0,
                "engine": measure.engine_summary(engine_before, await env.scrape_engine()),
                "apiserver_writes": measure.apiserver_writes(
                    api_before, await env.scrape_apiserver(), bench_writes=1
                ),
                "cpu": cpu,
            }
        )
        await asyncio.sleep(1)
    settings.say(
        "kustomize warm: " + ", ".join(f"{w['apply_s']:.2f}s" for w in warm if w["apply_s"])
    )

    kinds = [gitwork.KINDS[i % 4] for i in range(objects)]
    managed = [(kinds[i], f"obj-{i:03d}") for i in range(0, objects, max(1, objects // 20))]
    drifted = await drift.run(env, settings, namespace(0), managed, drift_changes)

    idle = []
    if idle_intervals:
        await asyncio.sleep(5)
        for _ in range(idle_intervals):
            engine_before = await env.scrape_engine()
            api_before = await env.scrape_apiserver()
            meter = env.meter()
            meter.start()
            await asyncio.sleep(60)
            cpu = meter.stop()
            summary = measure.engine_summary(engine_before, await env.scrape_engine())
            idle.append(
                {
                    "writes": summary["writes"],
                    "requests": summary["requests_by_method"],
                    "reconciles": summary["reconciles"],
                    "apiserver_writes": measure.apiserver_writes(
                        api_before, await env.scrape_apiserver()
                    ),
                    "cpu": cpu,
                }
            )
        settings.say("kustomize idle writes/interval: " + ", ".join(str(i["writes"]) for i in idle))
    await ks_watch.stop()

    def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apply_s": measure.stats(r["apply_s"] for r in rows),
            "engine_requests": measure.stats(
                sum(r["engine"]["requests_by_method"].values()) for r in rows
            ),
            "engine_writes": measure.stats(r["engine"]["writes"] for r in rows),
            "real_writes_at_apiserver": measure.stats(
                measure.engine_real(r["apiserver_writes"]["real"], 1) for r in rows
            ),
            "engine_cpu_s": measure.stats(
                sum(r["cpu"]["cpu_s"].get("engine", {}).values()) for r in rows
            ),
            "runs": rows,
        }

    return {
        "objects": objects,
        "cold": figures(cold),
        "warm": figures(warm),
        "drift": drifted,
        "idle": {
            "interval_s": 60,
            "writes_per_interval": measure.stats(i["writes"] for i in idle),
            "intervals": idle,
        },
    }

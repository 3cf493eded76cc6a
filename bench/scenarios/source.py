"""The source-controller benchmark: many GitRepositories on one git server.

(a) Steady state. `repos` GitRepositories (one small repository each) at `interval`;
    once every artifact exists, nothing changes for `intervals` intervals. Per interval:
    what the git server served (info/refs, ls-refs, downloads, bytes) and what the
    engine wrote. The goal: one ls-remote per repository per interval, no download.
(b) Push to new artifact. `pushes` commits, round robin over the repositories, each
    followed by a requested reconcile (`reconcile.fluxcd.io/requestedAt`); the clock
    starts when `git push` returned and stops at the watch event showing the
    GitRepository's artifact at the new commit.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import measure
from bench.env import NAMESPACE, BenchEnv
from bench.scenarios import RssSampler, Settings, fresh_env
from bench.watch import GITREPOSITORY, Watch, artifact_at


def files(i: int, rev: int = 0) -> dict[str, str]:
    return {
        "README.md": f"# repository {i}\n",
        "deploy/configmap.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
            f'  name: src-{i:03d}\ndata:\n  rev: "{rev}"\n'
        ),
    }


async def run(
    settings: Settings,
    *,
    repos: int = 100,
    interval: float = 60.0,
    intervals: int = 3,
    pushes: int = 20,
) -> dict[str, Any]:
    async with fresh_env(settings, f"source-{repos}") as env:
        return await _run(env, settings, repos, interval, intervals, pushes)


async def _run(
    env: BenchEnv, settings: Settings, repos: int, interval: float, intervals: int, pushes: int
) -> dict[str, Any]:
    assert env.kube is not None
    assert env.repos is not None
    names = [f"src-{i:03d}" for i in range(repos)]
    shas = dict(
        zip(
            names,
            await asyncio.gather(*(env.repos.create(n, files(i)) for i, n in enumerate(names))),
            strict=True,
        )
    )
    await env.start_engine()
    watch = await Watch(env.kube, GITREPOSITORY, NAMESPACE).start()
    done = [watch.track([f"{NAMESPACE}/{n}"], artifact_at(shas[n])) for n in names]
    t0 = time.monotonic()
    await env.create_many([env.git_repository(n, interval=f"{interval:g}s") for n in names])
    await asyncio.wait_for(asyncio.gather(*(d.done.wait() for d in done)), max(120.0, repos))
    first_s = max(max(d.times.values()) for d in done) - t0
    for d in done:
        watch.untrack(d)
    settings.say(f"source: {repos} GitRepositories with artifacts in {first_s:.2f}s")

    # (a) steady state
    await asyncio.sleep(3)
    await env.git_stats(reset=True)
    rss = RssSampler(env.engine_pid, 1.0).start()
    windows = []
    for _ in range(intervals):
        before = await env.scrape_engine()
        meter = env.meter()
        meter.start()
        await asyncio.sleep(interval)
        cpu = meter.stop()
        git = await env.git_stats(reset=True)
        summary = measure.engine_summary(before, await env.scrape_engine())
        totals = git["totals"]
        per_repo = [git["by_repo"].get(n, {}).get("info_refs", 0) for n in names]
        windows.append(
            {
                "wall_s": cpu["wall_s"],
                "git": totals,
                "info_refs": totals.get("info_refs", {}).get("requests", 0),
                "ls_refs": totals.get("ls_refs", {}).get("requests", 0),
                "downloads": totals.get("download", {}).get("requests", 0),
                "bytes_out": sum(v.get("bytes_out", 0) for v in totals.values()),
                "bytes_in": sum(v.get("bytes_in", 0) for v in totals.values()),
                "repos_fetched_once": sum(1 for c in per_repo if c == 1),
                "repos_fetched_never": sum(1 for c in per_repo if c == 0),
                "repos_fetched_more": sum(1 for c in per_repo if c > 1),
                "engine_writes": summary["writes"],
                "engine_requests": summary["requests_by_method"],
                "reconciles": summary["reconciles"],
                "cpu": cpu,
            }
        )
    memory = await rss.stop()
    steady: dict[str, Any] = {
        "interval_s": interval,
        "windows": windows,
        "ls_remotes_per_repo_per_interval": measure.stats(
            w["info_refs"] / repos * interval / w["wall_s"] for w in windows
        ),
        "downloads_per_interval": measure.stats(w["downloads"] for w in windows),
        "bytes_per_interval": measure.stats(w["bytes_out"] + w["bytes_in"] for w in windows),
        "engine_writes_per_interval": measure.stats(w["engine_writes"] for w in windows),
        "engine_cpu_pct": measure.stats(
            100 * sum(w["cpu"]["cpu_s"]["engine"].values()) / w["wall_s"] for w in windows
        ),
        "engine_rss": memory,
    }
    settings.say(
        "source steady: ls-remote/repo/interval "
        f"{steady['ls_remotes_per_repo_per_interval'].get('median')}, "
        f"downloads/interval {steady['downloads_per_interval'].get('median')}, "
        f"writes/interval {steady['engine_writes_per_interval'].get('median')}"
    )

    # (b) push to new artifact, requested reconcile
    latencies: list[float] = []
    after_request: list[float] = []
    push_s: list[float] = []
    for j in range(pushes):
        i = j % repos
        name = names[i]
        sha = await env.repos.commit(name, files(i, rev=j + 1), f"rev {j + 1}")
        began = time.monotonic()
        await env.repos.push(name)
        t0 = time.monotonic()
        push_s.append(t0 - began)
        track = watch.track([f"{NAMESPACE}/{name}"], artifact_at(sha))
        await env.request_reconcile("gitrepositories", "source.toolkit.fluxcd.io", name)
        t_req = time.monotonic()
        try:
            await asyncio.wait_for(track.done.wait(), 60)
        except TimeoutError:
            settings.say(f"source: {name} never got the artifact of {sha[:8]}")
        watch.untrack(track)
        when = track.times.get(f"{NAMESPACE}/{name}")
        if when is not None:
            latencies.append(when - t0)
            after_request.append(when - t_req)
        await asyncio.sleep(0.3)
    await watch.stop()
    push: dict[str, Any] = {
        "pushes": pushes,
        "push_to_artifact_s": measure.stats(latencies),
        "request_to_artifact_s": measure.stats(after_request),
        "git_push_s": measure.stats(push_s),
    }
    settings.say(
        f"source push→artifact: p50 {push['push_to_artifact_s'].get('median')}s "
        f"p95 {push['push_to_artifact_s'].get('p95')}s"
    )
    return {"repos": repos, "first_artifacts_s": round(first_s, 3), "steady": steady, "push": push}

"""The ceiling of issue 20: N Kustomizations of 4 objects each (N = 10,000: 40,000
objects) held Ready by one engine process, or by shard processes as `kidp install
--single-process --shards K` runs them.

Both layouts see the same cluster: app i (a ServiceAccount, ConfigMap, Service and a
Deployment scaled to 0 in its own namespace) is in repository `apps-shard<k>` (k = i mod
3 + 1), and its Kustomization and that GitRepository carry `sharding.fluxcd.io/key:
shard<k>`. Only the processes differ:

- `processes = 1`: the single-process Deployment `kidp-controller` (every controller, no
  label selector: it reconciles all);
- `processes = K > 1`: the Deployments `kidp-controller-shard1..K`, each with its
  `--watch-label-selector=sharding.fluxcd.io/key=shard<k>`. The main instance (which
  takes the unlabelled objects: none here) is not started.

Each process gets its Deployment's flags as `kidp install --export` writes them (leader
election, log level, controllers), then the host's own (kubeconfig, data directory,
loopback addresses, the artifact URL on loopback) and the bench's `--engine-arg`s last,
so they win; it runs as the bench's admin kubeconfig, not as its ServiceAccount (RBAC is
the acceptance tests').

Figures: MTTP (clock from before the first source is created to the watch event of the
last Kustomization Ready at its repository's commit; when it times out, how many were
Ready), the times at which 10/50/90 % were Ready; the engine processes' CPU, summed peak
RSS (VmHWM); the control plane's CPU and RSS (it shares the 2 cores with the engines);
API requests (the engines' own `rest_client_requests_total`, and every client's as the
API server counts them, `apiserver_request_total`). Then steady state: nothing changes for
`window` seconds (every interval 1m): per minute, engine CPU-seconds, engine and API
server requests, RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

import aiohttp

from bench import gitwork, measure
from bench.env import CONTROL_PLANE, NAMESPACE, BenchEnv
from bench.profile import Profiler
from bench.scenarios import Settings, fresh_env, quiet
from bench.watch import GITREPOSITORY, KUSTOMIZATION, Watch, artifact_at, ready_at
from kidp_gitops.devcluster.cluster import free_port
from kidp_gitops.install import manifests

SHARD_KEY = manifests.SHARD_KEY
SOURCES = 3
"""Repositories (and shard labels) the apps are spread over, in both layouts."""


def app_name(i: int) -> str:
    return f"app-{i:05d}"


def shard_of(i: int) -> str:
    return f"shard{i % SOURCES + 1}"


def default_timeout(n: int) -> float:
    """Seconds a run may take before it is recorded as timed out."""
    return max(600.0, 0.6 * n)


def deployment_args(processes: int) -> dict[str, list[str]]:
    """Process name → the flags of its Deployment in `kidp install --export
    --single-process` (with `--shards <processes>` when more than one)."""
    if processes not in (1, SOURCES):
        raise ValueError(f"processes: 1 or {SOURCES} (the shards the objects are labelled for)")
    shards = processes if processes > 1 else 0
    objects = manifests.manifests(single_process=True, shards=shards)
    wanted = (
        [manifests.ENGINE]
        if processes == 1
        else [f"{manifests.ENGINE}-shard{k}" for k in range(1, processes + 1)]
    )
    by_name = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    return {
        name: list(by_name[name]["spec"]["template"]["spec"]["containers"][0]["args"])
        for name in wanted
    }


TRACEMALLOC = "KIDP_BENCH_TRACEMALLOC"
"""Frames of each allocation the engines trace (`PYTHONTRACEMALLOC` in their
environment), when this is set in the bench's: their memory reports then say what holds
their memory (`Engines.memory`); tracing costs them memory and time."""


def _tracing() -> dict[str, str]:
    frames = os.environ.get(TRACEMALLOC)
    return {"PYTHONTRACEMALLOC": frames} if frames else {}


class EngineProcess:
    """One `kidp controller run` with a Deployment's flags, on loopback."""

    def __init__(self, env: BenchEnv, name: str, flags: list[str]):
        self.env = env
        self.name = name
        self.flags = flags
        self.home = env.root / "engines" / name
        self.log = env.logs / f"{name}.log"
        self.metrics_port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def spawn(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        taken: set[int] = set()
        ports = []
        for _ in range(4):
            port = free_port(exclude=taken)
            taken.add(port)
            ports.append(port)
        self.metrics_port, artifact, receiver, dashboard = ports
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-m", "kidp_gitops", "controller", "run", *self.flags,
                    f"--kubeconfig={self.env.cluster.kubeconfig}",
                    f"--data-dir={self.home / 'data'}",
                    f"--metrics-addr=127.0.0.1:{self.metrics_port}",
                    f"--artifact-addr=127.0.0.1:{artifact}",
                    f"--artifact-url=http://127.0.0.1:{artifact}",
                    f"--receiver-addr=127.0.0.1:{receiver}",
                    f"--dashboard-addr=127.0.0.1:{dashboard}",
                    *self.env.engine_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, "RUNTIME_NAMESPACE": manifests.NAMESPACE, **_tracing()},
            )  # fmt: skip

    async def wait_ready(self, http: aiohttp.ClientSession, timeout: float) -> None:
        """Until /readyz answers 200: informers synced, leading (it serves artifacts)."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log}")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with http.get(
                    f"http://127.0.0.1:{self.metrics_port}/readyz",
                    timeout=aiohttp.ClientTimeout(total=2),
                ) as resp:
                    if resp.status == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} was not ready in {timeout}s; see {self.log}")
            await asyncio.sleep(0.1)

    async def scrape(self, http: aiohttp.ClientSession) -> measure.Samples:
        return await measure.scrape(f"http://127.0.0.1:{self.metrics_port}/metrics", http)

    def stop(self, grace: float = 60) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def seed(env: BenchEnv, n: int) -> dict[str, str]:
    """The repositories (repository → its commit) and the N namespaces."""
    assert env.repos is not None
    repos = env.repos
    shas: dict[str, str] = {}
    for k in range(SOURCES):
        files: dict[str, str] = {}
        for i in range(k, n, SOURCES):
            files.update(gitwork.app_files(f"apps/{app_name(i)}", app_name(i), prefix=app_name(i)))
        shas[f"apps-shard{k + 1}"] = await repos.create(f"apps-shard{k + 1}", files)
    await env.create_many(
        [("/api/v1/namespaces", {"metadata": {"name": app_name(i)}}) for i in range(n)],
        parallel=32,
    )
    return shas


def _labelled(path_and_body: tuple[str, dict[str, Any]], shard: str) -> tuple[str, dict[str, Any]]:
    path, body = path_and_body
    body["metadata"]["labels"] = {SHARD_KEY: shard}
    return path, body


class Engines:
    """The engine processes of one layout, measured together."""

    def __init__(self, env: BenchEnv, processes: int):
        self.env = env
        self.all = [
            EngineProcess(env, name, flags) for name, flags in deployment_args(processes).items()
        ]
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))

    async def start(self, timeout: float = 300) -> float:
        began = time.monotonic()
        for engine in self.all:
            engine.spawn()
        for engine in self.all:
            await engine.wait_ready(self.http, timeout)
        return time.monotonic() - began

    async def close(self) -> None:
        for engine in self.all:
            engine.stop()
        await self.http.close()

    def pids(self) -> dict[str, int]:
        """Every process to meter: the engines by name, the control plane, the rest."""
        pids = {k: v for k, v in self.env.pids().items() if k != "engine"}
        pids.update({e.name: e.pid for e in self.all})
        return pids

    def meter(self) -> measure.CpuMeter:
        return measure.CpuMeter(self.pids())

    async def scrape(self) -> list[measure.Samples]:
        return list(await asyncio.gather(*(e.scrape(self.http) for e in self.all)))

    def exited(self) -> dict[str, int]:
        """The processes that have stopped (one that loses its lease does), and their
        exit codes: a run they were part of is not a steady state."""
        return {
            e.name: code
            for e in self.all
            if e.proc is not None and (code := e.proc.poll()) is not None
        }

    def rss_mib(self) -> dict[str, float]:
        return {e.name: measure.memory_mib(e.pid).get("VmRSS", 0.0) for e in self.all}

    def peak_rss_mib(self) -> dict[str, float]:
        return {e.name: measure.memory_mib(e.pid).get("VmHWM", 0.0) for e in self.all}

    async def memory(self, timeout: float = 120) -> dict[str, Any]:
        """Each process's memory as the kernel splits it (`measure.memory_detail_mib`),
        then the report each writes on SIGUSR2 (`kidp_gitops.engine.memory`): how much
        of it was freed memory (it gives that back) and, when the engines trace their
        allocations (`TRACEMALLOC`), what holds it, by line."""
        out: dict[str, Any] = {}
        for e in self.all:
            figures: dict[str, Any] = dict(measure.memory_detail_mib(e.pid))
            if e.proc is not None and e.proc.poll() is None:
                report = e.home / "data" / f"memory-{e.pid}.txt"
                report.unlink(missing_ok=True)
                os.kill(e.pid, signal.SIGUSR2)
                for _ in range(int(timeout / 0.5)):  # the engine renames it into place
                    if report.exists() or e.proc.poll() is not None:
                        break  # (an engine of before the report ends on SIGUSR2)
                    await asyncio.sleep(0.5)
                if report.exists():
                    figures["report"] = report.read_text().splitlines()
            out[e.name] = figures
        return out


def control_plane_rss_mib(env: BenchEnv) -> dict[str, float]:
    pids = env.pids()
    return {
        name: round(measure.memory_mib(pids[name]).get("VmRSS", 0.0), 1)
        for name in CONTROL_PLANE
        if name in pids
    }


def engine_requests(before: list[measure.Samples], after: list[measure.Samples]) -> dict[str, Any]:
    """Requests and writes of every engine process between two scrapes, summed."""
    by_method: dict[str, int] = {}
    writes = dry_runs = 0
    reconciles: dict[str, int] = {}
    for b, a in zip(before, after, strict=True):
        s = measure.engine_summary(b, a)
        for method, count in s["requests_by_method"].items():
            by_method[method] = by_method.get(method, 0) + count
        writes += s["writes"]
        dry_runs += s["dry_runs"]
        for controller, count in s["reconciles"].items():
            reconciles[controller] = reconciles.get(controller, 0) + count
    return {
        "requests": sum(by_method.values()),
        "requests_by_method": dict(sorted(by_method.items())),
        "writes": writes,
        "dry_runs": dry_runs,
        "reconciles": reconciles,
    }


def apiserver_requests(before: measure.Samples, after: measure.Samples) -> dict[str, Any]:
    """Every client's requests as the API server counts them (`apiserver_request_total`),
    by verb, and the ten busiest verb + resource pairs. A WATCH counts when it starts."""
    by_verb: dict[str, int] = {}
    by_resource: dict[str, int] = {}
    for (name, labels), value in after.items():
        if name != "apiserver_request_total":
            continue
        count = int(value - before.get((name, labels), 0.0))
        if count <= 0:
            continue
        d = dict(labels)
        verb = d.get("verb", "")
        resource = d.get("resource", "") + ("/" + d["subresource"] if d.get("subresource") else "")
        by_verb[verb] = by_verb.get(verb, 0) + count
        key = f"{verb} {resource}"
        by_resource[key] = by_resource.get(key, 0) + count
    top = sorted(by_resource.items(), key=lambda kv: -kv[1])[:10]
    return {"requests": sum(by_verb.values()), "by_verb": by_verb, "top": dict(top)}


def _cpu_figures(cpu: dict[str, Any], engines: Engines) -> dict[str, float]:
    used = cpu["cpu_s"]

    def both(name: str) -> float:
        c = used.get(name) or {}
        return float(c.get("self", 0.0)) + float(c.get("children", 0.0))

    return {
        "engine_s": round(sum(both(e.name) for e in engines.all), 2),
        "control_plane_s": round(sum(both(n) for n in CONTROL_PLANE), 2),
        "kube_apiserver_s": round(both("kube-apiserver"), 2),
        "etcd_s": round(both("etcd"), 2),
        "kube_controller_manager_s": round(both("kube-controller-manager"), 2),
        "git_server_s": round(both("git-server"), 2),
        "bench_s": round(both("bench"), 2),
        "others_s": round(float(cpu.get("others_s", 0.0)), 2),
        "wall_s": round(float(cpu["wall_s"]), 2),
    }


async def run(
    n: int,
    processes: int,
    settings: Settings,
    *,
    steady_window: float,
    profile: bool = False,
) -> dict[str, Any]:
    async with fresh_env(settings, f"ceiling-n{n}-p{processes}") as env:
        engines = Engines(env, processes)
        try:
            return await _run(env, engines, n, processes, settings, steady_window, profile)
        finally:
            await engines.close()


async def _run(
    env: BenchEnv,
    engines: Engines,
    n: int,
    processes: int,
    settings: Settings,
    steady_window: float,
    profile: bool,
) -> dict[str, Any]:
    assert env.kube is not None
    label = f"ceiling n={n} processes={processes}"
    began = time.monotonic()
    shas = await seed(env, n)
    seed_s = time.monotonic() - began
    engine_start_s = await engines.start()
    # What each process holds before any Flux object exists: its informers have listed
    # (the N namespaces' ConfigMaps among them), it leads, nothing is reconciled yet.
    at_start = {e.name: measure.memory_detail_mib(e.pid) for e in engines.all}
    settings.say(f"{label}: seeded in {seed_s:.1f}s, engines ready in {engine_start_s:.1f}s")

    ks_watch = await Watch(env.kube, KUSTOMIZATION, NAMESPACE).start()
    git_watch = await Watch(env.kube, GITREPOSITORY, NAMESPACE).start()
    repo_of = {app_name(i): f"apps-{shard_of(i)}" for i in range(n)}
    ks_done = ks_watch.track(
        [f"{NAMESPACE}/{app_name(i)}" for i in range(n)],
        ready_at(lambda obj: shas[repo_of[obj["metadata"]["name"]]]),
    )
    git_done = [git_watch.track([f"{NAMESPACE}/{r}"], artifact_at(sha)) for r, sha in shas.items()]
    sources = [_labelled(env.git_repository(r), r.removeprefix("apps-")) for r in shas]
    kustomizations = [
        _labelled(
            env.kustomization(app_name(i), repo_of[app_name(i)], f"./apps/{app_name(i)}"),
            shard_of(i),
        )
        for i in range(n)
    ]
    settle_s = await settle(env, settings)
    others_before = await quiet(settings, env)
    engine_before = await engines.scrape()
    api_before = await env.scrape_apiserver()
    meter = engines.meter()
    profiler = None
    if profile and settings.profile_dir is not None and Profiler.available():
        out = settings.profile_dir / f"ceiling-n{n}-p{processes}.txt"
        profiler = Profiler(engines.all[0].pid, out).start()
    load_start = os.getloadavg()
    meter.start()
    t0 = time.monotonic()
    progress = asyncio.create_task(_progress(settings, label, ks_done.times, n, t0, engines))
    await env.create_many(sources)
    await env.create_many(kustomizations, parallel=32)
    created_s = time.monotonic() - t0
    timeout = settings.mttp_timeout or default_timeout(n)
    try:
        await asyncio.wait_for(ks_done.done.wait(), max(timeout - created_s, 1.0))
        timed_out = False
    except TimeoutError:
        timed_out = True
    progress.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await progress
    t_end = max(ks_done.times.values(), default=time.monotonic())
    cpu = meter.stop()
    load_end = os.getloadavg()
    peak = engines.peak_rss_mib()
    prof = profiler.stop() if profiler else None
    engine_after = await engines.scrape()
    api_after = await env.scrape_apiserver()

    offsets = sorted(t - t0 for t in ks_done.times.values())

    def at(share: float) -> float | None:
        need = max(1, int(share * n))
        return round(offsets[need - 1], 1) if len(offsets) >= need else None

    result: dict[str, Any] = {
        "n": n,
        "objects": 4 * n,
        "processes": processes,
        "process_names": [e.name for e in engines.all],
        "repositories": len(shas),
        "timed_out": timed_out,
        "ready": len(ks_done.times),
        "mttp_s": None if timed_out else round(t_end - t0, 2),
        "timeout_s": timeout,
        "create_s": round(created_s, 2),
        "sources_ready_s": round(max(max(g.times.values()) - t0 for g in git_done if g.times), 2)
        if any(g.times for g in git_done)
        else None,
        "ready_10pct_s": at(0.1),
        "ready_50pct_s": at(0.5),
        "ready_90pct_s": at(0.9),
        "engine_start_s": round(engine_start_s, 2),
        "engine_memory_at_start_mib": at_start,
        "seed_s": round(seed_s, 1),
        "control_plane_settle_s": round(settle_s, 1),
        "others_cores_before": round(others_before, 2),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in load_end],
        "cpu": _cpu_figures(cpu, engines),
        "cpu_raw": cpu,
        "engine_peak_rss_mib": {k: round(v, 1) for k, v in peak.items()},
        "engine_peak_rss_total_mib": round(sum(peak.values()), 1),
        "control_plane_rss_mib": control_plane_rss_mib(env),
        "engine_requests": engine_requests(engine_before, engine_after),
        "apiserver_requests": apiserver_requests(api_before, api_after),
        "env": env.timings,
    }
    if prof is not None:
        result["profile"] = prof
    settings.say(
        f"{label}: {result['ready']}/{n} Ready "
        f"{'by the timeout of ' + str(timeout) if timed_out else 'in ' + str(result['mttp_s'])}s "
        f"(50 % at {result['ready_50pct_s']}s), engine cpu {result['cpu']['engine_s']}s, "
        f"control plane cpu {result['cpu']['control_plane_s']}s, "
        f"peak rss {result['engine_peak_rss_total_mib']} MiB, load {result['loadavg_end']}"
    )
    ks_watch.untrack(ks_done)
    await ks_watch.stop()
    await git_watch.stop()
    result["engines_exited"] = engines.exited()
    if steady_window > 0 and not result["engines_exited"]:
        try:
            result["steady"] = await steady(env, engines, settings, steady_window)
            result["steady"]["after_timeout"] = timed_out
        except Exception as err:  # an engine that dies meanwhile must not lose the run
            result["steady_error"] = f"{type(err).__name__}: {err}"
            result["engines_exited"] = engines.exited()
    # Last: a traced engine's report takes seconds of its CPU and memory of its own.
    result["engine_memory_mib"] = await engines.memory()
    return result


async def settle(
    env: BenchEnv, settings: Settings, cores: float = 0.3, max_wait: float = 240.0
) -> float:
    """Wait (at most `max_wait` s) until the control plane has done with the N new
    namespaces (the controller-manager gives each a ServiceAccount and a ConfigMap): less
    than `cores` of CPU over 5 s, so the run does not pay for the seeding. Returns the
    seconds waited."""
    began = time.monotonic()
    pids = {k: v for k, v in env.pids().items() if k in CONTROL_PLANE}
    while time.monotonic() - began < max_wait:
        meter = measure.CpuMeter(pids)
        meter.start()
        await asyncio.sleep(5.0)
        used = meter.stop()["cpu_s"]
        busy = sum(c["self"] + c["children"] for c in used.values()) / 5.0
        if busy < cores:
            break
    waited = time.monotonic() - began
    settings.say(f"control plane settled after {waited:.0f}s")
    return waited


async def _progress(
    settings: Settings, label: str, times: dict[str, float], n: int, t0: float, engines: Engines
) -> None:
    """A line a minute while waiting: how many are Ready, the machine's load."""
    while True:
        await asyncio.sleep(60)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        gone = engines.exited()
        settings.say(
            f"{label}: {len(times)}/{n} Ready after {time.monotonic() - t0:.0f}s (load {load})"
            + (f"; exited: {gone}" if gone else "")
        )


async def steady(
    env: BenchEnv, engines: Engines, settings: Settings, window: float
) -> dict[str, Any]:
    """Nothing changes for `window` seconds: per whole minute, engine CPU-seconds, the
    API server's request count (every client), RSS. The engines' own metrics are scraped
    at the start and the end only: at N = 10,000 their pages are megabytes (a histogram
    per object, as Flux's), and a scrape a minute would be part of the CPU measured."""
    settings.say(f"steady state: {window:.0f}s with no change")
    await asyncio.sleep(10)  # the last status patches and events of the run
    minutes: list[dict[str, Any]] = []
    engine_first = await engines.scrape()
    api_prev = await env.scrape_apiserver()
    began = time.monotonic()
    end = began + window
    while time.monotonic() < end:
        meter = engines.meter()
        load0 = os.getloadavg()[0]
        meter.start()
        await asyncio.sleep(min(60.0, end - time.monotonic()))
        cpu = meter.stop()
        s0 = time.monotonic()
        api_now = await env.scrape_apiserver()
        scrape_s = time.monotonic() - s0
        figures = _cpu_figures(cpu, engines)
        per_min = 60.0 / figures["wall_s"]
        api = apiserver_requests(api_prev, api_now)
        minutes.append(
            {
                "wall_s": figures["wall_s"],
                "engine_cpu_s_per_min": round(figures["engine_s"] * per_min, 2),
                "control_plane_cpu_s_per_min": round(figures["control_plane_s"] * per_min, 2),
                "kube_apiserver_cpu_s_per_min": round(figures["kube_apiserver_s"] * per_min, 2),
                "etcd_cpu_s_per_min": round(figures["etcd_s"] * per_min, 2),
                "controller_manager_cpu_s_per_min": round(
                    figures["kube_controller_manager_s"] * per_min, 2
                ),
                "others_cpu_s_per_min": round(figures["others_s"] * per_min, 2),
                "apiserver_requests_per_min": round(api["requests"] * per_min, 1),
                "apiserver_by_verb": api["by_verb"],
                "apiserver_top": api["top"],
                "apiserver_scrape_s": round(scrape_s, 2),
                "engine_rss_mib": {k: round(v, 1) for k, v in engines.rss_mib().items()},
                "control_plane_rss_mib": control_plane_rss_mib(env),
                "loadavg_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
            }
        )
        api_prev = api_now
        m = minutes[-1]
        settings.say(
            f"steady minute {len(minutes)}: engines {m['engine_cpu_s_per_min']} CPU-s/min, "
            f"control plane {m['control_plane_cpu_s_per_min']} CPU-s/min, "
            f"{m['apiserver_requests_per_min']} API-server req/min, "
            f"rss {sum(m['engine_rss_mib'].values()):.0f} MiB"
        )
    engine_last = await engines.scrape()
    elapsed_min = (time.monotonic() - began) / 60.0
    eng = engine_requests(engine_first, engine_last)
    full = [m for m in minutes if m["wall_s"] >= 50] or minutes

    def med(key: str) -> dict[str, Any]:
        return measure.stats(m[key] for m in full)

    return {
        "window_s": window,
        "minutes": minutes,
        "engine_cpu_s_per_min": med("engine_cpu_s_per_min"),
        "control_plane_cpu_s_per_min": med("control_plane_cpu_s_per_min"),
        "apiserver_requests_per_min": med("apiserver_requests_per_min"),
        "engine_rss_total_mib": measure.stats(sum(m["engine_rss_mib"].values()) for m in full),
        # over the whole window (one scrape at each end)
        "engine_requests_per_min": measure.stats([eng["requests"] / elapsed_min], 1),
        "engine_writes_per_min": measure.stats([eng["writes"] / elapsed_min], 1),
        "engine_requests_by_method": eng["requests_by_method"],
        "engine_reconciles": eng["reconciles"],
    }

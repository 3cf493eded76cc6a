"""The helm-controller benchmark: N HelmReleases of one chart, installed, then upgraded.

One HelmRepository (an HTTP chart repository served by this process: `helm package` and
`helm repo index` of a one-Deployment chart), N HelmReleases of its chart, each in a
namespace of its own with values of its own (a message, so no two render alike), the
engine started before them:

install   create the N HelmReleases at once; until every one is Ready (InstallSucceeded)
upgrade   change the values of all N at once; until every one is Ready at its new
          generation (UpgradeSucceeded, revision 2)

For each wave: wall time, the CPU of the engine's whole process tree (its own, its
children's — helm processes or the Helm helper — while alive, and theirs once waited
for: `tree_cpu`), the peak resident memory of that tree (sampled every 0.2 s) and its
largest process count, and the CPU of the control plane's processes. Compare runs of two
trees by putting the other tree's `src/` first on PYTHONPATH: the engine imports it.

The engine is kidp's (`engine="kidp"`) or Flux's (`"flux"`): source-controller and
helm-controller built from their release tags (bench/fluxcontrollers.py), with Flux's CRDs
installed in place of kidp's and `--concurrent` equal to kidp's `--concurrency` in the
same invocation. Everything else — control plane, chart, chart repository, values, waves,
the Ready check, the figures — is the same code for both; for Flux the measured tree is
its two processes (CPU and sampled RSS summed). Each wave records the load average at its
start and end, and the CPU others used meanwhile, since the machine is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import subprocess
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from bench import fluxcontrollers, measure, watch
from bench.env import BenchEnv
from bench.profile import Profiler
from bench.scenarios import Settings, fresh_env, quiet
from bench.watch import Watch
from kidp_gitops import __version__
from kidp_gitops.cli import controller as controller_command
from kidp_gitops.devcluster.cluster import free_port
from kidp_gitops.helm import binary
from kidp_gitops.kube import Resource, kstatus
from kidp_gitops.kube.client import JSON

HR = "/apis/helm.toolkit.fluxcd.io/v2/namespaces/{ns}/helmreleases"
REPO_NAMESPACE = "bench"
REPO_NAME = "charts"
CHART = "app"
HELMRELEASE = Resource("helm.toolkit.fluxcd.io", "v2", "HelmRelease", "helmreleases", True)

CHART_YAML = f"apiVersion: v2\nname: {CHART}\nversion: 1.0.0\ntype: application\n"
VALUES_YAML = "replicaCount: 1\nimage: registry.example/app:1.0.0\nmessage: hello\n"
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app: {{ .Release.Name }}}
  annotations: {message: {{ .Values.message | quote }}}
spec:
  replicas: {{ .Values.replicaCount }}
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: app
          image: {{ .Values.image }}
          env: [{name: MESSAGE, value: {{ .Values.message | quote }}}]
"""


ENGINES = ("kidp", "flux")


def namespace(i: int) -> str:
    return f"hr-{i}"


def kidp_concurrency(engine_args: Sequence[str]) -> int:
    """Parallel reconciles per kind of kidp's engine in this invocation: its
    `--concurrency`, else the default of `kidp controller run`, which the bench runs."""
    default = inspect.signature(controller_command.run).parameters["concurrency"].default
    return fluxcontrollers.engine_concurrency(engine_args, int(default))


class Engine(Protocol):
    """What the waves need of whichever engine reconciles the HelmReleases."""

    async def start(self) -> float: ...
    def roots(self) -> list[int]: ...
    def describe(self) -> dict[str, Any]: ...
    def stop(self) -> None: ...


class KidpEngine:
    def __init__(self, env: BenchEnv):
        self.env = env

    async def start(self) -> float:
        return await self.env.start_engine()

    def roots(self) -> list[int]:
        return [self.env.engine_pid]

    def describe(self) -> dict[str, Any]:
        return {
            "name": "kidp",
            "version": __version__,
            "commit": measure.source_tree()["commit"],
            "concurrency": kidp_concurrency(self.env.engine_args),
        }

    def stop(self) -> None:
        self.env.stop_engine()


class FluxEngine:
    def __init__(self, env: BenchEnv, built: fluxcontrollers.Built):
        self.env = env
        self.built = built
        self.concurrent = kidp_concurrency(env.engine_args)
        self.controllers = fluxcontrollers.FluxControllers(
            built, env.root / "flux", env.logs, env.cluster.kubeconfig, self.concurrent
        )

    async def start(self) -> float:
        self.controllers.spawn()
        self.env.processes.update(self.controllers.pids())
        return await self.controllers.wait_ready()

    def roots(self) -> list[int]:
        return list(self.controllers.pids().values())

    def describe(self) -> dict[str, Any]:
        return {
            "name": "flux",
            **self.built.versions(),
            "substitutions": self.built.substitutions(),
            "concurrency": self.concurrent,
        }

    def stop(self) -> None:
        self.controllers.stop()


async def run(
    settings: Settings,
    n: int,
    *,
    engine: str = "kidp",
    flux: fluxcontrollers.Built | None = None,
    timeout: float = 600.0,
    profile: bool = False,
) -> dict[str, Any]:
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: one of {', '.join(ENGINES)}")
    built = flux if engine == "flux" else None
    if engine == "flux" and built is None:
        raise ValueError("engine flux needs the built controllers (fluxcontrollers.ensure_built)")
    install = built.crds() if built is not None else None
    async with (
        fresh_env(settings, f"helm-{engine}-{n}", install) as env,
        _chart_repository(env.root) as url,
    ):
        runner: Engine = KidpEngine(env) if built is None else FluxEngine(env, built)
        try:
            return await _run(env, runner, settings, n, url, timeout, profile)
        finally:
            runner.stop()


async def _run(
    env: BenchEnv,
    engine: Engine,
    settings: Settings,
    n: int,
    url: str,
    timeout: float,
    profile: bool,
) -> dict[str, Any]:
    assert env.kube is not None
    kube = env.kube
    for i in range(n):
        await env.ensure_namespace(namespace(i))
    await env.create_many([_helm_repository(url)])
    result: dict[str, Any] = {"n": n, "engine": engine.describe()}
    result["engine_start_s"] = round(await engine.start(), 2)
    hr_watch = await Watch(kube, HELMRELEASE, None).start()
    deployments = await Watch(kube, watch.DEPLOYMENT, None).start()
    profiler = None
    # py-spy reads Python stacks: kidp's engine only.
    kidp = isinstance(engine, KidpEngine)
    if profile and kidp and settings.profile_dir is not None and Profiler.available():
        out = settings.profile_dir / f"helm-n{n}.txt"
        profiler = Profiler(env.engine_pid, out).start()

    async def wave(name: str, act: Any, done: Any, message: str) -> dict[str, Any]:
        others = await quiet(settings, env)
        load_start = os.getloadavg()[0]
        tree = TreeSampler(engine.roots()).start()
        meter = env.meter()
        keys = [f"{namespace(i)}/{CHART}" for i in range(n)]
        track = hr_watch.track(keys, done)
        rollout = deployments.track(keys, _rolled_out(message))
        meter.start()
        t0 = time.monotonic()
        await act()
        try:
            await asyncio.wait_for(track.done.wait(), timeout)
        except TimeoutError:
            settings.say(f"helm {name}: {len(track.times)}/{n} Ready after {timeout:.0f}s")
        hr_watch.untrack(track)
        wall = max(track.times.values(), default=t0) - t0
        figures = {
            "wall_s": round(wall, 2),
            "ready": len(track.times),
            **await tree.stop(),
            "cpu": meter.stop(),
            "quiet_others_cores": others,
            "loadavg": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        }
        # An engine that reported Ready before its Deployment rolled out would show
        # here (the rollout still comes, so wait for it a little past the last Ready).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rollout.done.wait(), 30)
        deployments.untrack(rollout)
        figures["rollout"] = _rollout_figures(t0, track.times, rollout.times)
        settings.say(
            f"helm {name} n={n} ({result['engine']['name']}): {wall:.1f}s, "
            f"tree CPU {figures['tree_cpu_s']:.1f}s, "
            f"peak tree RSS {figures['tree_peak_rss_mib']:.0f} MiB"
        )
        return figures

    async def install() -> None:
        await env.create_many([_helm_release(i, "v1") for i in range(n)])

    async def upgrade() -> None:
        limit = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            patch = {"spec": {"values": {"message": _message(i, "v2")}}}
            async with limit:
                await kube.patch(f"{HR.format(ns=namespace(i))}/{CHART}", patch)

        await asyncio.gather(*(one(i) for i in range(n)))

    result["install"] = await wave("install", install, _succeeded("InstallSucceeded", 1), "v1")
    result["upgrade"] = await wave("upgrade", upgrade, _succeeded("UpgradeSucceeded", 2), "v2")
    if profiler is not None:
        result["profile"] = profiler.stop()
    await hr_watch.stop()
    await deployments.stop()
    return result


def _message(i: int, version: str) -> str:
    return f"{version} of release {i}"


def _rolled_out(version: str) -> Callable[[JSON], bool]:
    """A release's Deployment Current by kstatus (the rule both engines wait on) with the
    pod template of the values of `version`."""

    def check(obj: JSON) -> bool:
        i = int(obj["metadata"]["namespace"].removeprefix("hr-"))
        containers = obj["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for c in containers for e in c.get("env") or []}
        return (
            env.get("MESSAGE") == _message(i, version)
            and kstatus.compute(obj).status == kstatus.Status.CURRENT
        )

    return check


def _rollout_figures(
    t0: float, ready: dict[str, float], rolled_out: dict[str, float]
) -> dict[str, Any]:
    """When the Deployments were rolled out (as the bench's watch saw it), and how long
    after its Deployment each HelmRelease turned Ready: the engine's wait lag (negative:
    Ready before the rollout)."""
    both = [k for k in ready if k in rolled_out]
    return {
        "rolled_out": len(rolled_out),
        "wall_s": round(max(rolled_out.values(), default=t0) - t0, 2),
        "ready_after_rollout_s": measure.stats((ready[k] - rolled_out[k] for k in both), 3),
        "ready_before_rollout": sum(1 for k in both if ready[k] < rolled_out[k]),
    }


def _succeeded(reason: str, version: int) -> Callable[[JSON], bool]:
    def check(obj: JSON) -> bool:
        status = obj.get("status") or {}
        history = status.get("history") or []
        ready: JSON = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
        return (
            ready.get("status") == "True"
            and ready.get("reason") == reason
            and status.get("observedGeneration") == obj["metadata"].get("generation")
            and bool(history)
            and history[0].get("version") == version
        )

    return check


def _helm_repository(url: str) -> tuple[str, dict[str, Any]]:
    return (
        f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{REPO_NAMESPACE}/helmrepositories",
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": {"name": REPO_NAME, "namespace": REPO_NAMESPACE},
            "spec": {"interval": "10m", "url": url},
        },
    )


def _helm_release(i: int, message: str) -> tuple[str, dict[str, Any]]:
    return (
        HR.format(ns=namespace(i)),
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": CHART, "namespace": namespace(i)},
            "spec": {
                "interval": "10m",
                "chart": {
                    "spec": {
                        "chart": CHART,
                        "version": "1.0.0",
                        "sourceRef": {
                            "kind": "HelmRepository",
                            "name": REPO_NAME,
                            "namespace": REPO_NAMESPACE,
                        },
                    }
                },
                "values": {"message": _message(i, message)},
            },
        },
    )


@contextlib.asynccontextmanager
async def _chart_repository(root: Path) -> AsyncIterator[str]:
    """The chart, packaged and indexed by the real helm, served over HTTP on loopback."""
    served = root / "charts"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    await asyncio.to_thread(_package, served, url)
    app = web.Application()
    app.router.add_static("/", served)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield url
    finally:
        await runner.cleanup()


def _package(served: Path, url: str) -> None:
    served.mkdir(parents=True, exist_ok=True)
    helm = str(binary.find())
    with tempfile.TemporaryDirectory(prefix="kidp-bench-chart-") as tmp:
        chart = Path(tmp) / CHART
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text(CHART_YAML)
        (chart / "values.yaml").write_text(VALUES_YAML)
        (chart / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
        env = {"HOME": tmp, "PATH": "/usr/bin:/bin"}
        subprocess.run([helm, "package", str(chart), "-d", str(served)], check=True, env=env)
        subprocess.run([helm, "repo", "index", str(served), "--url", url], check=True, env=env)
    if not any(tarfile.is_tarfile(p) for p in served.glob("*.tgz")):
        raise RuntimeError(f"helm package wrote no chart into {served}")


class TreeSampler:
    """The CPU and resident memory of processes and all their descendants, summed.

    CPU: at the start and at the end, each process's own time and its waited-for
    children's, plus the same of every descendant alive then (a descendant that ends
    in between is waited for by its parent, and its time moves there). Memory: the sum
    of VmRSS over the trees every `period` seconds, and its largest value."""

    def __init__(self, roots: Sequence[int], period: float = 0.2):
        self.roots = list(roots)
        self.period = period
        self.peak_mib = 0.0
        self.peak_processes = 0
        self.peak_by_program: dict[str, float] = {}
        """Each program's own peak (the sum over its processes at one sample): which
        part of the tree holds the memory, the engine or the Helm helper, source- or
        helm-controller."""
        self._begin = 0.0
        self._engine = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> TreeSampler:
        self._begin = tree_cpu(self.roots)
        self._engine = self._roots_self()
        self._task = asyncio.create_task(self._run())
        return self

    def _roots_self(self) -> float:
        return sum(measure.cpu(p).self_s for p in self.roots)

    async def _run(self) -> None:
        while True:
            pids = descendants(self.roots)
            by_program: dict[str, float] = {}
            for pid in pids:
                program = _program(pid)
                rss_of = measure.memory_mib(pid).get("VmRSS", 0.0)
                by_program[program] = by_program.get(program, 0.0) + rss_of
            for program, mib in by_program.items():
                self.peak_by_program[program] = max(self.peak_by_program.get(program, 0.0), mib)
            rss = sum(by_program.values())
            self.peak_mib = max(self.peak_mib, rss)
            self.peak_processes = max(self.peak_processes, len(pids))
            await asyncio.sleep(self.period)

    async def stop(self) -> dict[str, Any]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return {
            "tree_cpu_s": round(tree_cpu(self.roots) - self._begin, 2),
            "tree_peak_rss_mib": round(self.peak_mib, 1),
            "tree_peak_processes": self.peak_processes,
            "peak_rss_mib_by_program": {k: round(v, 1) for k, v in self.peak_by_program.items()},
            "engine_self_cpu_s": round(self._roots_self() - self._engine, 2),
        }


def _program(pid: int) -> str:
    """The process's program name (/proc/PID/comm), '?' once it has ended."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def _children() -> dict[int, list[int]]:
    """Each process's children, from /proc."""
    found: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        found.setdefault(ppid, []).append(int(entry.name))
    return found


def descendants(roots: Sequence[int]) -> list[int]:
    """Every process of `roots` and under them."""
    children = _children()
    out, todo = [], list(roots)
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def tree_cpu(roots: Sequence[int]) -> float:
    return sum(measure.cpu(p).total_s for p in descendants(roots))

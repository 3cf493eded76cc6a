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
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from bench import measure
from bench.env import BenchEnv
from bench.profile import Profiler
from bench.scenarios import Settings, fresh_env, quiet
from bench.watch import Watch
from kidp_gitops.devcluster.cluster import free_port
from kidp_gitops.helm import binary
from kidp_gitops.kube import Resource
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


def namespace(i: int) -> str:
    return f"hr-{i}"


async def run(
    settings: Settings, n: int, *, timeout: float = 600.0, profile: bool = False
) -> dict[str, Any]:
    async with fresh_env(settings, f"helm-{n}") as env, _chart_repository(env.root) as url:
        return await _run(env, settings, n, url, timeout, profile)


async def _run(
    env: BenchEnv, settings: Settings, n: int, url: str, timeout: float, profile: bool
) -> dict[str, Any]:
    assert env.kube is not None
    kube = env.kube
    for i in range(n):
        await env.ensure_namespace(namespace(i))
    await env.create_many([_helm_repository(url)])
    await env.start_engine()
    hr_watch = await Watch(kube, HELMRELEASE, None).start()
    result: dict[str, Any] = {"n": n}
    profiler = None
    if profile and settings.profile_dir is not None and Profiler.available():
        out = settings.profile_dir / f"helm-n{n}.txt"
        profiler = Profiler(env.engine_pid, out).start()

    async def wave(name: str, act: Any, done: Any) -> dict[str, Any]:
        result["quiet_others_cores"] = await quiet(settings, env)
        tree = TreeSampler(env.engine_pid).start()
        meter = env.meter()
        track = hr_watch.track([f"{namespace(i)}/{CHART}" for i in range(n)], done)
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
        }
        settings.say(
            f"helm {name} n={n}: {wall:.1f}s, tree CPU {figures['tree_cpu_s']:.1f}s, "
            f"peak tree RSS {figures['tree_peak_rss_mib']:.0f} MiB"
        )
        return figures

    async def install() -> None:
        await env.create_many([_helm_release(i, "v1") for i in range(n)])

    async def upgrade() -> None:
        limit = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            patch = {"spec": {"values": {"message": f"v2 of release {i}"}}}
            async with limit:
                await kube.patch(f"{HR.format(ns=namespace(i))}/{CHART}", patch)

        await asyncio.gather(*(one(i) for i in range(n)))

    result["install"] = await wave("install", install, _succeeded("InstallSucceeded", 1))
    result["upgrade"] = await wave("upgrade", upgrade, _succeeded("UpgradeSucceeded", 2))
    if profiler is not None:
        result["profile"] = profiler.stop()
    await hr_watch.stop()
    return result


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
                "values": {"message": f"{message} of release {i}"},
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
    """The CPU and resident memory of a process and all its descendants.

    CPU: at the start and at the end, the process's own time and its waited-for
    children's, plus the same of every descendant alive then (a descendant that ends
    in between is waited for by its parent, and its time moves there). Memory: the sum
    of VmRSS over the tree every `period` seconds, and its largest value."""

    def __init__(self, pid: int, period: float = 0.2):
        self.pid = pid
        self.period = period
        self.peak_mib = 0.0
        self.peak_processes = 0
        self._begin = 0.0
        self._engine = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> TreeSampler:
        self._begin = tree_cpu(self.pid)
        self._engine = measure.cpu(self.pid).self_s
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            pids = descendants(self.pid)
            rss = sum(measure.memory_mib(p).get("VmRSS", 0.0) for p in pids)
            self.peak_mib = max(self.peak_mib, rss)
            self.peak_processes = max(self.peak_processes, len(pids))
            await asyncio.sleep(self.period)

    async def stop(self) -> dict[str, Any]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return {
            "tree_cpu_s": round(tree_cpu(self.pid) - self._begin, 2),
            "tree_peak_rss_mib": round(self.peak_mib, 1),
            "tree_peak_processes": self.peak_processes,
            "engine_self_cpu_s": round(measure.cpu(self.pid).self_s - self._engine, 2),
        }


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


def descendants(pid: int) -> list[int]:
    """`pid` and every process under it."""
    children = _children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def tree_cpu(pid: int) -> float:
    return sum(measure.cpu(p).total_s for p in descendants(pid))

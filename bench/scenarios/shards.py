"""Kustomizations over shards: `kidp install --shards S`'s kustomize-controller shards as
host processes (each with its Deployment's flags, `--watch-label-selector` its shard),
beside the main source-controller, over N Kustomizations labelled round-robin.

One GitRepository whose one path holds one ConfigMap, its name substituted per
Kustomization. Measured from the processes' start: seconds until all N are Ready at the
commit (a watch, no polling), and each process's CPU (own and its children's) and peak
resident memory. That each object is written by its shard alone is the suite's
assertion (tests/integration/install/test_shards_scale.py, at a size that proves it);
this is the scale figure it used to carry (300 over 3, issue 20).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

from bench import measure
from bench.env import NAMESPACE, BenchEnv
from bench.scenarios import Settings, fresh_env
from bench.watch import KUSTOMIZATION, Watch, ready_at
from kidp_gitops.devcluster.cluster import free_port
from kidp_gitops.install import manifests

REPO = "sharded"
CONFIGMAP = f"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-${{idx}}
  namespace: {NAMESPACE}
data:
  shard: ${{shard}}
"""


def deployment_args(shards: int) -> dict[str, list[str]]:
    """The args of each controller Deployment of `kidp install --shards S`, by name."""
    return {
        d["metadata"]["name"]: list(d["spec"]["template"]["spec"]["containers"][0]["args"])
        for d in manifests.manifests(shards=shards)
        if d["kind"] == "Deployment"
    }


def spawn(env: BenchEnv, name: str, args: list[str]) -> subprocess.Popen[bytes]:
    """Deployment `name`'s process on the host, as the admin, its listeners on loopback."""
    artifacts = free_port()
    home = env.root / "processes" / name
    home.mkdir(parents=True)
    argv = [
        sys.executable, "-m", "kidp_gitops", "controller", "run", *args,
        f"--kubeconfig={env.cluster.kubeconfig}", f"--data-dir={home}",
        "--metrics-addr=127.0.0.1:0", "--dashboard-addr=127.0.0.1:0",
        f"--artifact-addr=127.0.0.1:{artifacts}", f"--artifact-url=http://127.0.0.1:{artifacts}",
    ]  # fmt: skip
    with open(env.logs / f"{name}.log", "ab") as log:
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "RUNTIME_NAMESPACE": manifests.NAMESPACE},
        )


async def run(settings: Settings, *, kustomizations: int = 300, shards: int = 3) -> dict[str, Any]:
    async with fresh_env(settings, f"shards-{kustomizations}x{shards}") as env:
        return await _run(env, settings, kustomizations, shards)


async def _run(
    env: BenchEnv, settings: Settings, kustomizations: int, shards: int
) -> dict[str, Any]:
    assert env.kube is not None
    assert env.repos is not None
    sha = await env.repos.create(REPO, {"apps/cm.yaml": CONFIGMAP})
    shard_of = {f"ks-{i}": f"shard{i % shards + 1}" for i in range(kustomizations)}
    objects = [env.git_repository(REPO)]
    for name, shard in shard_of.items():
        path, body = env.kustomization(
            name, REPO, "./apps", prune=False,
            postBuild={"substitute": {"idx": name.removeprefix("ks-"), "shard": shard}},
        )  # fmt: skip
        body["metadata"]["labels"] = {manifests.SHARD_KEY: shard}
        objects.append((path, body))
    await env.create_many(objects)
    watch = await Watch(env.kube, KUSTOMIZATION, NAMESPACE).start()
    track = watch.track([f"{NAMESPACE}/{name}" for name in shard_of], ready_at(sha))

    args = deployment_args(shards)
    names = ["source-controller"] + [f"kustomize-controller-shard{k}" for k in range(1, shards + 1)]
    began = time.monotonic()
    processes = {name: spawn(env, name, args[name]) for name in names}
    try:
        try:
            await asyncio.wait_for(track.done.wait(), max(180.0, 0.6 * kustomizations))
            ready_s: float | None = max(track.times.values()) - began
        except TimeoutError:
            ready_s = None
            settings.say(f"shards: {len(track.times)} of {kustomizations} Ready at the timeout")
        usage = {
            name: {
                "cpu_s": round(measure.cpu(proc.pid).total_s, 2),
                "peak_rss_mib": measure.memory_mib(proc.pid).get("VmHWM"),
            }
            for name, proc in processes.items()
        }
    finally:
        watch.untrack(track)
        await watch.stop()
        for proc in processes.values():
            proc.terminate()
        for proc in processes.values():
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    settings.say(
        f"shards: {kustomizations} Kustomizations over {shards} shards Ready in "
        + (f"{ready_s:.1f} s" if ready_s is not None else "— (timed out)")
    )
    return {
        "kustomizations": kustomizations,
        "shards": shards,
        "ready_s": None if ready_s is None else round(ready_s, 2),
        "ready_count": len(track.times),
        "processes": usage,
        "logs": str(env.logs),
    }

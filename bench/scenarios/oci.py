"""OCI push to applied (issue 16): scenario 2 of push.py, with an OCIRepository for source.

One Kustomization of `objects` objects from one OCIRepository following a semver range
of a registry (go-containerregistry's `registry`, built by hack/registry/build.sh, on
loopback). Each sample packs the directory with one ConfigMap changed and pushes it as
the next tag (`kidp push artifact`'s code: pack, blobs, manifest); the clock starts when
the manifest PUT has returned and stops at the watch event showing the new value on the
ConfigMap. Right after the push the bench sets `reconcile.fluxcd.io/requestedAt` on the
OCIRepository (what `flux reconcile source oci` does; the OCIRepository's interval is
1h, so polling never helps). Each sample also records when the new artifact appeared
and when the Kustomization was Ready at it, so the latency splits into source and apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from bench import gitwork, measure
from bench.env import NAMESPACE, BenchEnv
from bench.scenarios import Settings, fresh_env
from bench.watch import CONFIGMAP, KUSTOMIZATION, Watch, ready_for_generation
from kidp_gitops.kube import Resource
from kidp_gitops.kube.client import JSON
from kidp_gitops.oci import artifact, client, reference
from kidp_gitops.runtime import outbound

NAME = "oci"
TARGET = "oci-app"
OCIREPOSITORY = Resource("source.toolkit.fluxcd.io", "v1", "OCIRepository", "ocirepositories", True)
REPO_ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def registry() -> AsyncIterator[str]:
    """A registry on a free loopback port; its host:port."""
    built = await asyncio.to_thread(
        subprocess.run,
        ["bash", str(REPO_ROOT / "hack/registry/build.sh")],
        capture_output=True,
        text=True,
        check=True,
    )
    binary = Path(built.stdout.strip().splitlines()[-1]) / "registry"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = await asyncio.create_subprocess_exec(
        str(binary), "-port", str(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(300):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            await asyncio.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


class Pusher:
    """Writes files under a scratch directory and pushes a directory of it as a tag of
    one repository of the registry (`kidp push artifact`'s code: pack, blobs, manifest)."""

    def __init__(self, host: str, name: str) -> None:
        self.repository = reference.Repository(host, name)
        self.work = Path(tempfile.mkdtemp(prefix="kidp-bench-oci-"))
        self._http = outbound.Outbound()
        self._client = client.Client(self.repository, insecure=True, timeout=60, http=self._http)

    async def push(self, files: dict[str, str], tag: str, root: str = ".") -> str:
        """Write `files` (paths relative to the scratch directory), push `root`; the
        manifest's digest."""

        def write() -> None:
            for rel, text in files.items():
                target = self.work / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)

        await asyncio.to_thread(write)
        return await artifact.push(
            self._client, tag, self.work / root, source="bench", revision=f"{tag}@sha1:0"
        )

    async def close(self) -> None:
        await asyncio.to_thread(shutil.rmtree, self.work, True)
        await self._http.close()


def oci_repository(name: str, url: str, ref: dict[str, str], interval: str) -> tuple[str, JSON]:
    return (
        f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}/ocirepositories",
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"interval": interval, "url": url, "ref": ref, "insecure": True},
        },
    )


def _has_rev(rev: str) -> Callable[[JSON], bool]:
    return lambda o: (o.get("data") or {}).get("rev") == rev


def _applied_at(tag: str) -> Callable[[JSON], bool]:
    """A Kustomization Ready for its spec, applied at the OCIRepository's `tag`."""

    def check(obj: JSON) -> bool:
        applied = str((obj.get("status") or {}).get("lastAppliedRevision", ""))
        return ready_for_generation(obj) and applied.startswith(f"{tag}@")

    return check


def _artifact_tag(tag: str) -> Callable[[JSON], bool]:
    def check(obj: JSON) -> bool:
        revision = str(((obj.get("status") or {}).get("artifact") or {}).get("revision", ""))
        return revision.startswith(f"{tag}@")

    return check


async def run(settings: Settings, *, objects: int = 20, pushes: int = 20) -> dict[str, Any]:
    async with fresh_env(settings, NAME) as env, registry() as host:
        return await _run(env, settings, host, objects, pushes)


async def _run(
    env: BenchEnv, settings: Settings, host: str, objects: int, pushes: int
) -> dict[str, Any]:
    assert env.kube is not None
    await env.ensure_namespace(TARGET)
    pusher = Pusher(host, "bench/app")
    url = pusher.repository.url()
    await pusher.push(gitwork.app_files("app", TARGET, count=objects, prefix="obj"), "1.0.0", "app")
    await env.start_engine()
    ks_watch = await Watch(env.kube, KUSTOMIZATION, NAMESPACE).start()
    oci_watch = await Watch(env.kube, OCIREPOSITORY, NAMESPACE).start()
    cm_watch = await Watch(env.kube, CONFIGMAP, TARGET).start()
    await env.create_many([oci_repository(NAME, url, {"semver": ">=1.0.0"}, "1h")])
    path, ks = env.kustomization(NAME, NAME, "./", interval="1h")
    ks["spec"]["sourceRef"] = {"kind": "OCIRepository", "name": NAME}
    await env.create_many([(path, ks)])
    if await ks_watch.when(f"{NAMESPACE}/{NAME}", _applied_at("1.0.0"), 120) is None:
        raise RuntimeError("the OCI Kustomization never became Ready")
    settings.say(f"oci: {objects}-object Kustomization Ready from {url}")

    cm_names = [f"obj-{i:03d}" for i in range(objects) if gitwork.KINDS[i % 4] == "ConfigMap"]
    target = cm_names[0]
    engine_before = await env.scrape_engine()
    meter = env.meter()
    meter.start()
    samples: list[dict[str, float | None]] = []
    for rev in range(1, pushes + 1):
        tag = f"1.{rev}.0"
        await pusher.push(gitwork.configmap_file("app", target, TARGET, rev), tag, "app")
        t0 = time.monotonic()
        art = oci_watch.track([f"{NAMESPACE}/{NAME}"], _artifact_tag(tag))
        ready = ks_watch.track([f"{NAMESPACE}/{NAME}"], _applied_at(tag))
        await env.request_reconcile("ocirepositories", "source.toolkit.fluxcd.io", NAME)
        when = await cm_watch.when(f"{TARGET}/{target}", _has_rev(str(rev)), 60)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.done.wait(), 10)
        oci_watch.untrack(art)
        ks_watch.untrack(ready)
        a = art.times.get(f"{NAMESPACE}/{NAME}")
        k = ready.times.get(f"{NAMESPACE}/{NAME}")
        samples.append(
            {
                "applied_s": None if when is None else when - t0,
                "artifact_s": None if a is None else a - t0,
                "ready_s": None if k is None else k - t0,
            }
        )
        await asyncio.sleep(0.3)
    cpu = meter.stop()
    for w in (ks_watch, oci_watch, cm_watch):
        await w.stop()
    out: dict[str, Any] = {
        "objects": objects,
        "pushes": pushes,
        "applied": sum(1 for s in samples if s["applied_s"] is not None),
        "push_to_applied_s": measure.stats(s["applied_s"] for s in samples),
        "push_to_artifact_s": measure.stats(s["artifact_s"] for s in samples),
        "push_to_ready_s": measure.stats(s["ready_s"] for s in samples),
        "engine": measure.engine_summary(engine_before, await env.scrape_engine()),
        "cpu": cpu,
    }
    st = out["push_to_applied_s"]
    settings.say(f"oci (annotation): p50 {st.get('median')}s p95 {st.get('p95')}s")
    await pusher.close()
    return out

"""Manual changes to managed objects, and the time until the engine puts them back.

Each change is a merge patch of a field the manifest sets, sent with the field manager
`kubectl edit` uses (`kubectl-edit`) — the kinds of edit people do: a Deployment scaled
up, a ConfigMap value edited, a Service's target port changed, a ServiceAccount label
changed. The clock starts when the API server has accepted the patch (its answer) and
stops at the watch event that shows the field back at its Git value in a newer
resourceVersion than the patch's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench import measure
from bench.env import BenchEnv
from bench.scenarios import Settings
from bench.watch import CONFIGMAP, DEPLOYMENT, SERVICE, SERVICEACCOUNT, Watch
from kidp_gitops.kube import Resource
from kidp_gitops.kube.client import JSON

# kind → (resource, the drifting patch, does the object hold its Git value again?)
CHANGES: dict[str, tuple[Resource, dict[str, Any], Callable[[JSON], bool]]] = {
    "Deployment": (
        DEPLOYMENT,
        {"spec": {"replicas": 3}},
        lambda o: o.get("spec", {}).get("replicas") == 0,
    ),
    "ConfigMap": (
        CONFIGMAP,
        {"data": {"greeting": "edited by hand"}},
        lambda o: str(o.get("data", {}).get("greeting", "")).startswith("hello from"),
    ),
    "Service": (
        SERVICE,
        {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 9090}]}},
        lambda o: [p.get("targetPort") for p in o.get("spec", {}).get("ports", [])] == [8080],
    ),
    "ServiceAccount": (
        SERVICEACCOUNT,
        {"metadata": {"labels": {"app": "edited-by-hand"}}},
        lambda o: o.get("metadata", {}).get("labels", {}).get("app") != "edited-by-hand",
    ),
}


async def edit(env: BenchEnv, path: str, patch: dict[str, Any]) -> dict[str, Any]:
    """A merge patch as `kubectl edit` sends it; returns the object's metadata."""
    assert env.kube is not None
    answer = await env.kube.request(
        "PATCH",
        path,
        params={"fieldManager": "kubectl-edit"},
        body=patch,
        content_type="application/merge-patch+json",
    )
    return dict(answer["metadata"])


def _corrected(rv: int, restored: Callable[[JSON], bool]) -> Callable[[JSON], bool]:
    """Back at its Git value, in a version newer than the edit's."""
    return lambda o: int(o["metadata"]["resourceVersion"]) > rv and restored(o)


async def watches(env: BenchEnv, namespace: str) -> dict[str, Watch]:
    assert env.kube is not None
    return {
        kind: await Watch(env.kube, resource, namespace).start()
        for kind, (resource, _, _) in CHANGES.items()
    }


async def run(
    env: BenchEnv,
    settings: Settings,
    namespace: str,
    objects: list[tuple[str, str]],
    changes: int,
    timeout: float = 60.0,
    pause: float = 0.5,
) -> dict[str, Any]:
    """`changes` edits, round robin over `objects` ((kind, name) pairs), one at a time."""
    assert env.kube is not None
    ws = await watches(env, namespace)
    latencies: list[float] = []
    missed = 0
    engine_before = await env.scrape_engine()
    meter = env.meter()
    meter.start()
    try:
        for j in range(changes):
            kind, name = objects[j % len(objects)]
            resource, patch, restored = CHANGES[kind]
            rv = int((await edit(env, resource.path(namespace, name), patch))["resourceVersion"])
            t0 = time.monotonic()
            when = await ws[kind].when(
                f"{namespace}/{name}",
                _corrected(rv, restored),
                timeout,
            )
            if when is None:
                missed += 1
                settings.say(f"drift: {kind}/{name} not corrected within {timeout:.0f}s")
            else:
                latencies.append(when - t0)
            await asyncio.sleep(pause)
    finally:
        for w in ws.values():
            await w.stop()
    cpu = meter.stop()
    engine_after = await env.scrape_engine()
    out: dict[str, Any] = {
        "changes": changes,
        "corrected": len(latencies),
        "missed": missed,
        "corrected_s": measure.stats(latencies),
        "engine": measure.engine_summary(engine_before, engine_after),
        "cpu": cpu,
    }
    st = out["corrected_s"]
    settings.say(
        f"drift: {len(latencies)}/{changes} corrected, p50 {st.get('median')}s p95 {st.get('p95')}s"
    )
    return out


async def probe_list_key_change(
    env: BenchEnv, settings: Settings, namespace: str, name: str, owner: str, timeout: float = 20
) -> dict[str, Any]:
    """A harder edit, reported apart: the Service's port itself changed (80 → 81), which
    replaces the list entry's key. Is it put back, and what does the Kustomization say?"""
    assert env.kube is not None
    w = await Watch(env.kube, SERVICE, namespace).start()
    try:
        patched = await edit(
            env,
            SERVICE.path(namespace, name),
            {"spec": {"ports": [{"name": "http", "port": 81, "targetPort": 8080}]}},
        )
        rv = int(patched["resourceVersion"])
        t0 = time.monotonic()
        when = await w.when(
            f"{namespace}/{name}",
            lambda o: (
                int(o["metadata"]["resourceVersion"]) > rv
                and [p.get("port") for p in o.get("spec", {}).get("ports", [])] == [80]
            ),
            timeout,
        )
    finally:
        await w.stop()
    live = await env.kube.get(SERVICE.path(namespace, name))
    ks = await env.kube.get(
        f"/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/bench/kustomizations/{owner}"
    )
    ready: dict[str, Any] = next(
        (c for c in (ks.get("status") or {}).get("conditions", []) if c["type"] == "Ready"), {}
    )
    out = {
        "edit": "Service spec.ports[0].port 80 → 81 (merge patch as kubectl-edit)",
        "corrected_s": None if when is None else round(when - t0, 3),
        "ports_after": [p.get("port") for p in live["spec"]["ports"]],
        "kustomization_ready": ready.get("status"),
        "kustomization_message": ready.get("message"),
    }
    settings.say(f"drift probe (port key change): {out}")
    # Put it back by hand so later measurements start from a healthy Kustomization.
    await edit(
        env,
        SERVICE.path(namespace, name),
        {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
    )
    return out

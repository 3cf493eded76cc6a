"""Scenarios 2 and 3 of issue #7, on one fresh environment.

(2) Push to applied. One Kustomization of `objects` objects (ServiceAccounts,
    ConfigMaps, Services, Deployments scaled to 0) from one GitRepository. Each commit
    changes one ConfigMap's value; the clock starts when `git push` has returned (the
    commit is on the server) and stops at the watch event showing the new value on the
    ConfigMap in the cluster. The GitRepository's own interval is 1h in (a) and (b), so
    polling never helps.
    (a) webhook: right after the push, the bench POSTs a GitHub push event, signed with
        X-Hub-Signature-256 by the token in the Receiver's Secret, to the engine's
        receiver at the Receiver's status.webhookPath (type `github`, resource: the
        GitRepository) — what GitHub does on a push. Also timed: POST → the receiver's
        200 (the request accepted: signature checked, the GitRepository annotated).
    (b) annotation: right after the push, the bench sets `reconcile.fluxcd.io/requestedAt`
        on the GitRepository itself (what `flux reconcile source git` does) — the same
        request without the HTTP hop, for comparison in the same run.
    (c) polling: the GitRepository's interval is `poll_interval` (10s) and nothing is
        requested; each push waits a random 0..interval first so pushes land at every
        phase of the poll timer.
    Each sample also records when the new artifact appeared and when the Kustomization
    was Ready at the commit, so the latency splits into source and apply.

(3) Drift. `drift` manual changes to the Kustomization's objects (see drift.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import random
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench import gitwork, measure
from bench.env import NAMESPACE, BenchEnv
from bench.scenarios import Settings, drift, fresh_env
from bench.watch import CONFIGMAP, GITREPOSITORY, KUSTOMIZATION, Watch, artifact_at, ready_at
from kidp_gitops.kube.client import JSON

REPO = "push"
TARGET = "push-app"
RECEIVER = "github"
TOKEN_SECRET = "webhook-token"


def _has_rev(rev: str) -> Callable[[JSON], bool]:
    return lambda o: (o.get("data") or {}).get("rev") == rev


async def run(
    settings: Settings,
    *,
    objects: int = 20,
    requested: int = 20,
    polled: int = 20,
    poll_interval: float = 10.0,
    drift_changes: int = 20,
) -> dict[str, Any]:
    async with fresh_env(settings, "push") as env:
        return await _run(env, settings, objects, requested, polled, poll_interval, drift_changes)


async def _run(
    env: BenchEnv,
    settings: Settings,
    objects: int,
    requested: int,
    polled: int,
    poll_interval: float,
    drift_changes: int,
) -> dict[str, Any]:
    assert env.kube is not None
    assert env.repos is not None
    await env.ensure_namespace(TARGET)
    files = gitwork.app_files("app", TARGET, count=objects, prefix="obj")
    sha = await env.repos.create(REPO, files)
    await env.start_engine()
    ks_watch = await Watch(env.kube, KUSTOMIZATION, NAMESPACE).start()
    git_watch = await Watch(env.kube, GITREPOSITORY, NAMESPACE).start()
    cm_watch = await Watch(env.kube, CONFIGMAP, TARGET).start()
    await env.create_many([env.git_repository(REPO, interval="1h")])
    await env.create_many([env.kustomization(REPO, REPO, "./app", interval="1h")])
    if await ks_watch.when(f"{NAMESPACE}/{REPO}", ready_at(sha), 120) is None:
        raise RuntimeError("the push Kustomization never became Ready")
    settings.say(f"push: {objects}-object Kustomization Ready")

    hook, token = await _receiver(env)
    # GitHub pings a new webhook first; the receiver answers without requesting anything.
    status, _ = await env.post_webhook(hook, b"{}", _github_headers(token, b"{}", "ping"))
    if status != 200:
        raise RuntimeError(f"the receiver answered GitHub's ping with HTTP {status}")
    settings.say(f"push: Receiver '{RECEIVER}' ready, GitHub ping answered")

    # The ConfigMaps of app_files are the objects at index 1, 5, 9, …
    cm_names = [f"obj-{i:03d}" for i in range(objects) if gitwork.KINDS[i % 4] == "ConfigMap"]
    target = cm_names[0]
    rev = 0
    head = sha

    async def one_commit(how: str, timeout: float) -> dict[str, float | None]:
        nonlocal rev, head
        assert env.repos is not None
        rev += 1
        before = head
        head = await env.repos.commit(
            REPO, gitwork.configmap_file("app", target, TARGET, rev), f"rev {rev}"
        )
        pushed_at = time.monotonic()
        await env.repos.push(REPO)
        t0 = time.monotonic()
        artifact = git_watch.track([f"{NAMESPACE}/{REPO}"], artifact_at(head))
        ready = ks_watch.track([f"{NAMESPACE}/{REPO}"], ready_at(head))
        accepted: float | None = None
        if how == "webhook":
            body = _push_payload(env, before, head, rev)
            status, text = await env.post_webhook(hook, body, _github_headers(token, body))
            if status == 200:
                accepted = time.monotonic() - t0
            else:
                settings.say(f"push: the receiver refused a push: HTTP {status} {text.strip()}")
        elif how == "annotation":
            await env.request_reconcile("gitrepositories", "source.toolkit.fluxcd.io", REPO)
        when = await cm_watch.when(
            f"{TARGET}/{target}",
            _has_rev(str(rev)),
            timeout,
        )
        # The Kustomization's Ready comes after the object; give it a moment.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.done.wait(), 10)
        git_watch.untrack(artifact)
        ks_watch.untrack(ready)
        a = artifact.times.get(f"{NAMESPACE}/{REPO}")
        k = ready.times.get(f"{NAMESPACE}/{REPO}")
        return {
            "push_s": t0 - pushed_at,
            "accepted_s": accepted,
            "applied_s": None if when is None else when - t0,
            "artifact_s": None if a is None else a - t0,
            "ready_s": None if k is None else k - t0,
        }

    async def series(how: str, count: int, jitter: float) -> dict[str, Any]:
        engine_before = await env.scrape_engine()
        meter = env.meter()
        meter.start()
        samples = []
        for _ in range(count):
            if jitter:
                await asyncio.sleep(random.uniform(0, jitter))
            samples.append(await one_commit(how, timeout=max(60.0, 4 * jitter)))
            await asyncio.sleep(0.3)
        cpu = meter.stop()
        out: dict[str, Any] = {
            "commits": count,
            "applied": sum(1 for s in samples if s["applied_s"] is not None),
            "push_to_applied_s": measure.stats(s["applied_s"] for s in samples),
            "push_to_artifact_s": measure.stats(s["artifact_s"] for s in samples),
            "push_to_ready_s": measure.stats(s["ready_s"] for s in samples),
            "git_push_s": measure.stats(s["push_s"] for s in samples),
            "engine": measure.engine_summary(engine_before, await env.scrape_engine()),
            "cpu": cpu,
        }
        if how == "webhook":
            out["accepted"] = sum(1 for s in samples if s["accepted_s"] is not None)
            out["webhook_to_accepted_s"] = measure.stats(s["accepted_s"] for s in samples)
        st = out["push_to_applied_s"]
        settings.say(f"push ({how}): p50 {st.get('median')}s p95 {st.get('p95')}s")
        return out

    result: dict[str, Any] = {"objects": objects}
    # The same request two ways, one after the other on the same engine and objects.
    result["webhook"] = await series("webhook", requested, 0.0)
    result["annotation"] = await series("annotation", requested, 0.0)
    if polled:
        await env.kube.patch(
            f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}/gitrepositories/{REPO}",
            {"spec": {"interval": f"{poll_interval:g}s"}},
        )
        await asyncio.sleep(2)
        result["polled"] = await series("polled", polled, poll_interval)
        result["polled"]["interval_s"] = poll_interval
    if drift_changes:
        kinds = [gitwork.KINDS[i % 4] for i in range(objects)]
        managed = [(kinds[i], f"obj-{i:03d}") for i in range(objects)]
        result["drift"] = await drift.run(env, settings, TARGET, managed, drift_changes)
        service = next(name for kind, name in managed if kind == "Service")
        result["drift_probe"] = await drift.probe_list_key_change(
            env, settings, TARGET, service, REPO
        )
    for w in (ks_watch, git_watch, cm_watch):
        await w.stop()
    return result


async def _receiver(env: BenchEnv) -> tuple[str, str]:
    """A `github` Receiver for the GitRepository, its token in a Secret; returns its
    status.webhookPath (once the engine has computed it) and the token."""
    assert env.kube is not None
    token = secrets.token_hex(20)
    await env.kube.create(
        f"/api/v1/namespaces/{NAMESPACE}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": TOKEN_SECRET},
            "data": {"token": base64.b64encode(token.encode()).decode()},
        },
    )
    path = f"/apis/notification.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}/receivers"
    await env.kube.create(
        path,
        {
            "apiVersion": "notification.toolkit.fluxcd.io/v1",
            "kind": "Receiver",
            "metadata": {"name": RECEIVER, "namespace": NAMESPACE},
            "spec": {
                "type": "github",
                "events": ["ping", "push"],
                "secretRef": {"name": TOKEN_SECRET},
                "resources": [{"kind": "GitRepository", "name": REPO}],
            },
        },
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        obj = await env.kube.get(f"{path}/{RECEIVER}")
        hook = (obj.get("status") or {}).get("webhookPath")
        if hook:
            return str(hook), token
        await asyncio.sleep(0.2)
    raise RuntimeError("the Receiver got no status.webhookPath in 60s")


def _push_payload(env: BenchEnv, before: str, after: str, rev: int) -> bytes:
    """The fields of GitHub's push event a receiver could look at."""
    assert env.repos is not None
    url = env.repos.url(REPO)
    return json.dumps(
        {
            "ref": "refs/heads/main",
            "before": before,
            "after": after,
            "created": False,
            "deleted": False,
            "forced": False,
            "repository": {"name": REPO, "full_name": f"bench/{REPO}", "clone_url": url},
            "pusher": {"name": env.username},
            "head_commit": {"id": after, "message": f"rev {rev}"},
        }
    ).encode()


def _github_headers(token: str, body: bytes, event: str = "push") -> dict[str, str]:
    """The headers GitHub sends with a webhook delivery."""
    digest = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/bench",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
    }

"""The fixed load of a run (see bench/controlplane/__init__.py), counting what it sends."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from kidp_gitops.kube import KubeClient, service_account_user

NAMESPACES = tuple(f"load-{i}" for i in range(4))
CONCURRENCY = 8
MANAGER = "bench-load"
GIT = "/apis/source.toolkit.fluxcd.io/v1"


class Load:
    """The fixed load, counting every request it sends (a watch is one)."""

    def __init__(self, kube: KubeClient, n: int):
        self.kube = kube
        self.n = n
        self.sent: Counter[str] = Counter()
        self.waited: dict[str, float] = {}
        """Seconds from the requests to the watch event that showed their effect."""
        self._gate = asyncio.Semaphore(CONCURRENCY)
        self._watches: list[asyncio.Task[None]] = []

    async def call(self, what: str, request: Callable[[], Awaitable[Any]]) -> Any:
        async with self._gate:
            self.sent[what] += 1
            return await request()

    async def each(self, what: str, requests: Sequence[Callable[[], Awaitable[Any]]]) -> None:
        await asyncio.gather(*(self.call(what, r) for r in requests))

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            for task in self._watches:
                task.cancel()
            await asyncio.gather(*self._watches, return_exceptions=True)

    async def _run(self) -> None:
        n = self.n
        kube = self.kube
        gone = await self.informer("/api/v1/namespaces", lambda e: e["type"] == "DELETED")
        await self.each(
            "create namespace",
            [
                _bind(kube.create, "/api/v1/namespaces", {"metadata": {"name": ns}})
                for ns in NAMESPACES
            ],
        )
        # The reader's RBAC first: the API server's authorizer sees it moments later.
        for what, path, obj in _reader(NAMESPACES[0]):
            await self.call(what, _bind(kube.create, path, obj))
        for _ in range(3):
            await self.informer("/api/v1/configmaps")
        await self.informer(f"{GIT}/gitrepositories")
        available = await self.informer("/apis/apps/v1/deployments", _available)

        names = [(NAMESPACES[i % len(NAMESPACES)], f"cm-{i}") for i in range(n)]
        cms = [f"/api/v1/namespaces/{ns}/configmaps" for ns, _ in names]
        await self.each(
            "create",
            [
                _bind(kube.create, p, _configmap(name, 0))
                for p, (_, name) in zip(cms, names, strict=True)
            ],
        )
        await self.each(
            "get", [_bind(kube.get, f"{p}/{name}") for p, (_, name) in zip(cms, names, strict=True)]
        )
        await self.each(
            "list",
            [
                _bind(kube.get, f"/api/v1/namespaces/{NAMESPACES[i % len(NAMESPACES)]}/configmaps")
                for i in range(n // 10)
            ],
        )
        await self.each(
            "merge patch",
            [
                _bind(kube.patch, f"{p}/{name}", {"data": {"step": "patched"}})
                for p, (_, name) in zip(cms, names, strict=True)
            ],
        )

        def apply(
            path: str, obj: dict[str, Any], dry_run: bool = False
        ) -> Callable[[], Awaitable[Any]]:
            return lambda: kube.apply(path, obj, field_manager=MANAGER, dry_run=dry_run)

        applied_cms = [
            (f"{p}/ssa-{name}", _configmap(f"ssa-{name}", 1))
            for p, (_, name) in zip(cms, names, strict=True)
        ]
        await self.each("apply", [apply(p, o) for p, o in applied_cms])
        await self.each("apply dry run", [apply(p, o, dry_run=True) for p, o in applied_cms])
        await self.each("apply (no change)", [apply(p, o) for p, o in applied_cms])

        repos = [
            (f"{GIT}/namespaces/{NAMESPACES[i % len(NAMESPACES)]}/gitrepositories/repo-{i}", i)
            for i in range(n // 4)
        ]
        await self.each("apply GitRepository", [apply(p, _git_repository(i)) for p, i in repos])
        await self.each(
            "status patch",
            [_bind(kube.patch, f"{p}/status", _git_status(i)) for p, i in repos],
        )

        reader = kube.impersonate(service_account_user(NAMESPACES[0], "reader"))
        await self.each(
            "get as a ServiceAccount",
            [_bind(reader.get, f"{cms[i * 4]}/{names[i * 4][1]}") for i in range(n // 4)],
        )

        deployments = [(NAMESPACES[i], f"web-{i}") for i in range(len(NAMESPACES))]
        began = time.monotonic()
        await self.each(
            "apply Deployment",
            [
                apply(f"/apis/apps/v1/namespaces/{d_ns}/deployments/{name}", _deployment(name))
                for d_ns, name in deployments
            ],
        )
        await available(len(deployments))
        self.waited["deployments available"] = round(time.monotonic() - began, 2)
        began = time.monotonic()
        await self.each(
            "delete namespace",
            [_bind(kube.delete, f"/api/v1/namespaces/{d_ns}") for d_ns in NAMESPACES],
        )
        await gone(len(NAMESPACES), names=set(NAMESPACES))
        self.waited["namespaces gone"] = round(time.monotonic() - began, 2)

    async def informer(
        self, path: str, match: Callable[[dict[str, Any]], bool] | None = None
    ) -> Callable[..., Awaitable[None]]:
        """List and watch `path` for the rest of the load, as an informer does (two
        requests). Returns a wait for `count` events that `match` (distinct objects; of
        `names` only, when given)."""
        listed = await self.call("informer list", _bind(self.kube.get, path))
        version = listed["metadata"]["resourceVersion"]
        seen: dict[str, dict[str, Any]] = {}
        changed = asyncio.Event()

        async def watch() -> None:
            self.sent["informer watch"] += 1
            params = {"watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true"}
            async for event in self.kube.stream(path, params, read_timeout=600):
                obj = event.get("object") or {}
                if match is not None and match(event):
                    meta = obj.get("metadata") or {}
                    seen[f"{meta.get('namespace', '')}/{meta.get('name', '')}"] = obj
                    changed.set()

        self._watches.append(asyncio.create_task(watch()))

        async def wait(count: int, names: set[str] | None = None, timeout: float = 180) -> None:
            deadline = time.monotonic() + timeout
            while True:
                hits = [k for k in seen if names is None or k.split("/", 1)[1] in names]
                if len(hits) >= count:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{path}: {len(hits)} of {count} events in {timeout} s")
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), left)

        return wait


def _bind(fn: Callable[..., Awaitable[Any]], *args: Any) -> Callable[[], Awaitable[Any]]:
    return lambda: fn(*args)


def _available(event: dict[str, Any]) -> bool:
    status = (event.get("object") or {}).get("status") or {}
    return event["type"] != "DELETED" and status.get("availableReplicas") == 2


def _configmap(name: str, step: int) -> dict[str, Any]:
    # ~1 KiB of data, like a small rendered ConfigMap.
    data = {f"key-{k}": f"value {k} of {name} " * 6 for k in range(8)}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "load"}},
        "data": {**data, "step": str(step)},
    }


def _git_repository(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": f"repo-{i}"},
        "spec": {"url": f"https://git.example.com/repo-{i}.git", "interval": "1h", "suspend": True},
    }


def _git_status(i: int) -> dict[str, Any]:
    return {
        "status": {
            "observedGeneration": 1,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Succeeded",
                    "message": f"stored artifact for revision main@sha1:{i:040x}",
                    "lastTransitionTime": "2026-12-07T08:00:00Z",
                    "observedGeneration": 1,
                }
            ],
        }
    }


def _reader(ns: str) -> list[tuple[str, str, dict[str, Any]]]:
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    return [
        (
            "create ServiceAccount",
            f"/api/v1/namespaces/{ns}/serviceaccounts",
            {"metadata": {"name": "reader"}},
        ),
        (
            "create Role",
            f"{rbac}/roles",
            {
                "metadata": {"name": "reader"},
                "rules": [
                    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
                ],
            },
        ),
        (
            "create RoleBinding",
            f"{rbac}/rolebindings",
            {
                "metadata": {"name": "reader"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "reader",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}],
            },
        ),
    ]


def _deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }

"""When did something become true? Informers in the bench process answer with the
monotonic time of the watch event that made it so — no polling, so the bench adds
one watch per resource to the API server's load, not a list every few hundred ms.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

from kidp_gitops.kube import KubeClient, Resource
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.informer import EventType, Informer, object_key

KUSTOMIZATION = Resource(
    "kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations", True
)
GITREPOSITORY = Resource("source.toolkit.fluxcd.io", "v1", "GitRepository", "gitrepositories", True)
CONFIGMAP = Resource("", "v1", "ConfigMap", "configmaps", True)
SERVICEACCOUNT = Resource("", "v1", "ServiceAccount", "serviceaccounts", True)
SERVICE = Resource("", "v1", "Service", "services", True)
DEPLOYMENT = Resource("apps", "v1", "Deployment", "deployments", True)
NAMESPACES = Resource("", "v1", "Namespace", "namespaces", False)

Predicate = Callable[[JSON], bool]


class _Many:
    def __init__(self, keys: Iterable[str], predicate: Predicate):
        self.keys = set(keys)
        self.predicate = predicate
        self.times: dict[str, float] = {}
        self.done = asyncio.Event()
        if not self.keys:
            self.done.set()

    def see(self, key: str, obj: JSON, now: float) -> None:
        if key in self.keys and key not in self.times and self.predicate(obj):
            self.times[key] = now
            if len(self.times) == len(self.keys):
                self.done.set()


class Watch:
    """One informer and the conditions waiting on it."""

    def __init__(
        self,
        kube: KubeClient,
        resource: Resource,
        namespace: str | None = None,
        label_selector: str | None = None,
    ):
        self.informer = Informer(kube, resource, namespace=namespace, label_selector=label_selector)
        self._waiting: list[_Many] = []
        self.events = 0
        self.informer.add_handler(self._on)

    async def start(self, timeout: float = 60) -> Watch:
        self.informer.start()
        await self.informer.wait_synced(timeout)
        return self

    async def stop(self) -> None:
        await self.informer.stop()

    def _on(self, event: EventType, obj: JSON) -> None:
        now = time.monotonic()
        self.events += 1
        if event == "DELETED":
            return
        key = object_key(obj)
        for many in self._waiting:
            many.see(key, obj, now)

    def get(self, key: str) -> JSON | None:
        namespace, _, name = key.rpartition("/")
        return self.informer.get(namespace or None, name)

    def track(self, keys: Iterable[str], predicate: Predicate) -> _Many:
        """Start recording, per key, the first time `predicate` holds (now, if it holds
        already). Wait on `.done`; read `.times`."""
        many = _Many(keys, predicate)
        now = time.monotonic()
        for key in list(many.keys):
            obj = self.get(key)
            if obj is not None:
                many.see(key, obj, now)
        self._waiting.append(many)
        return many

    def untrack(self, many: _Many) -> None:
        if many in self._waiting:
            self._waiting.remove(many)

    async def when(self, key: str, predicate: Predicate, timeout: float) -> float | None:
        """The monotonic time at which `predicate` first held for `key`; None on timeout."""
        many = self.track([key], predicate)
        try:
            await asyncio.wait_for(many.done.wait(), timeout)
        except TimeoutError:
            return None
        finally:
            self.untrack(many)
        return many.times.get(key)


# ---- predicates ------------------------------------------------------------------------


def condition(obj: JSON, type_: str = "Ready") -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return {}


def ready_at(sha: str | Callable[[JSON], str]) -> Predicate:
    """A Kustomization Ready for its current spec, applied at a revision ending in
    `sha` (or the sha a function gives for the object)."""

    def check(obj: JSON) -> bool:
        want = sha(obj) if callable(sha) else sha
        st = obj.get("status") or {}
        return (
            condition(obj).get("status") == "True"
            and st.get("observedGeneration") == obj["metadata"].get("generation")
            and str(st.get("lastAppliedRevision", "")).endswith(want)
        )

    return check


def artifact_at(sha: str) -> Predicate:
    """A GitRepository whose artifact is at a revision ending in `sha`."""

    def check(obj: JSON) -> bool:
        artifact = (obj.get("status") or {}).get("artifact") or {}
        return str(artifact.get("revision", "")).endswith(sha)

    return check


def ready_for_generation(obj: JSON) -> bool:
    st = obj.get("status") or {}
    return condition(obj).get("status") == "True" and st.get("observedGeneration") == obj[
        "metadata"
    ].get("generation")

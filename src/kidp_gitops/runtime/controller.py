"""A controller: the watched objects of one kind feed a queue that workers drain through
a reconciler.

    informer (primary kind) ──┐
    informer (owned/related) ─┼─► keys ─► WorkQueue ─► N workers ─► reconciler.reconcile
    requeue / backoff ◄───────┘                                           │
                                         reconcile.decide ◄───────────────┘

The primary informer enqueues an object when it is created, deleted, marked for
deletion, or when its spec (generation), labels, annotations or finalizers change —
not when only its status changes, which is what our own status patches do; a
reconcile that patches status must not trigger another. Related informers map their
objects to the keys of the primary objects that care (`watch`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.informer import EventType, Informer
from kidp_gitops.runtime import metrics, reconcile
from kidp_gitops.runtime.workqueue import WorkQueue, run_workers

log = logging.getLogger(__name__)

KeyMapper = Callable[[EventType, JSON], Iterable[reconcile.Request]]
Watch = Callable[[Informer, KeyMapper], None]


class WatchSource(Protocol):
    """Informers that appear while a controller runs (the kinds a Kustomization applies,
    known only once built): the controller subscribes when it is made, and watches each
    one as the source hands it over."""

    def subscribe(self, watch: Watch) -> None: ...


class PrometheusQueueMetrics:
    """The workqueue's metrics hooks, exported under the queue's name."""

    def __init__(self, name: str):
        self._name = name

    def depth_changed(self, depth: int) -> None:
        metrics.QUEUE_DEPTH.labels(self._name).set(depth)

    def added(self) -> None:
        metrics.QUEUE_ADDS.labels(self._name).inc()

    def retried(self) -> None:
        metrics.QUEUE_RETRIES.labels(self._name).inc()

    def waited(self, seconds: float) -> None:
        metrics.QUEUE_WAIT.labels(self._name).observe(seconds)

    def processed(self, seconds: float) -> None:
        metrics.QUEUE_WORK.labels(self._name).observe(seconds)


def _request_of(obj: JSON) -> reconcile.Request:
    meta = obj.get("metadata") or {}
    return reconcile.Request(meta.get("namespace") or "", meta["name"])


def _trigger(obj: JSON) -> tuple[object, ...]:
    """What, when changed, is worth a reconcile: everything but status."""
    meta = obj.get("metadata") or {}
    return (
        meta.get("generation"),
        meta.get("deletionTimestamp"),
        tuple(sorted((meta.get("labels") or {}).items())),
        tuple(sorted((meta.get("annotations") or {}).items())),
        tuple(meta.get("finalizers") or ()),
    )


class Controller:
    def __init__(
        self,
        name: str,
        informer: Informer,
        reconciler: reconcile.Reconciler,
        *,
        concurrency: int = 4,
        sources: Iterable[WatchSource] = (),
    ):
        self.name = name
        self.informer = informer
        self.reconciler = reconciler
        self.concurrency = concurrency
        self.queue: WorkQueue[reconcile.Request] = WorkQueue(metrics=PrometheusQueueMetrics(name))
        self._last: dict[str, tuple[object, ...]] = {}
        self._related: list[Informer] = []
        self._running = False
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        informer.add_handler(self._on_primary)
        for source in sources:
            source.subscribe(self.watch)

    def watch(self, informer: Informer, to_requests: KeyMapper) -> None:
        """Reconcile the primary objects `to_requests` names whenever an object of
        `informer` changes in any way. May be called while running: the informer is
        then started at once."""
        self._related.append(informer)

        def on_event(event: EventType, obj: JSON) -> None:
            for request in to_requests(event, obj):
                self.queue.add(request)

        informer.add_handler(on_event)
        if self._running:
            informer.start()

    def follow(self, informer: Informer, to_requests: KeyMapper) -> None:
        """Like `watch`, for an informer this controller does not own (a remote
        cluster's, stopped when that remote closes): started at once, and neither
        counted for readiness nor stopped with the controller — a remote that is down
        is said in its objects' status, not by the engine's probes."""

        def on_event(event: EventType, obj: JSON) -> None:
            for request in to_requests(event, obj):
                self.queue.add(request)

        informer.add_handler(on_event)
        informer.start()

    @property
    def informers(self) -> list[Informer]:
        return [self.informer, *self._related]

    def _on_primary(self, event: EventType, obj: JSON) -> None:
        request = _request_of(obj)
        key = str(request)
        if event == "DELETED":
            self._last.pop(key, None)
            self.queue.add(request)
            return
        trigger = _trigger(obj)
        if self._last.get(key) != trigger:
            self._last[key] = trigger
            self.queue.add(request)

    def on_stop(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Await `callback` when the controller stops (a helper process it started)."""
        self._on_stop.append(callback)

    async def run(self) -> None:
        """Drain the queue until it shuts down."""
        self._running = True
        try:
            await run_workers(self.queue, self._handle, self.concurrency)
        finally:
            self._running = False
            for callback in self._on_stop:
                await callback()

    async def _handle(self, request: reconcile.Request) -> reconcile.Decision:
        began = time.perf_counter()
        decision = await reconcile.reconcile_once(self.reconciler, request)
        if decision.backoff:
            result = "error"
            metrics.RECONCILE_ERRORS.labels(self.name).inc()
        elif decision.requeue_after is not None:
            result = "requeue_after"
        else:
            result = "success"
        metrics.RECONCILE_TOTAL.labels(self.name, result).inc()
        log.debug("%s %s: %s in %.3fs", self.name, request, result, time.perf_counter() - began)
        return decision

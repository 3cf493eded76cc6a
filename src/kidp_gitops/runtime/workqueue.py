"""The workqueue: which objects to reconcile next, and the workers that take them.

Informers and timers add keys; workers take them. The queue holds each key once however
often it is added, and never hands out a key that a worker is still processing: a key added
meanwhile is marked dirty and queued again when that worker calls `done`. Delayed adds
(`add_after`) keep the earliest deadline asked for a key; `add_rate_limited` delays by a
per-key exponential backoff that `forget` resets. `apply` carries out the `Decision` that
`reconcile.decide` made, so the retry rules live in one place.

After `shutdown`, adds are ignored and `get` raises `ShutDown`, even if keys were still
waiting: they are dropped, because a restarted controller lists every object again.
Everything here runs on one event loop; nothing is thread-safe, nothing needs to be.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Protocol, TypeVar

from kidp_gitops.runtime import reconcile

K = TypeVar("K", bound=Hashable)

log = logging.getLogger(__name__)


class ShutDown(Exception):
    """Raised by `WorkQueue.get` once the queue is shut down."""


class QueueMetrics(Protocol):
    """Hooks for the metrics module (workqueue_* series); durations are in seconds."""

    def depth_changed(self, depth: int) -> None: ...

    def added(self) -> None:
        """A key became pending; adds of a key that is already pending are not counted."""

    def retried(self) -> None:
        """A key was re-added with backoff."""

    def waited(self, seconds: float) -> None:
        """A key was taken, `seconds` after it became ready."""

    def processed(self, seconds: float) -> None:
        """A key was done, `seconds` after it was taken."""


class NoMetrics:
    """The default: record nothing."""

    def depth_changed(self, depth: int) -> None:
        pass

    def added(self) -> None:
        pass

    def retried(self) -> None:
        pass

    def waited(self, seconds: float) -> None:
        pass

    def processed(self, seconds: float) -> None:
        pass


class ExponentialBackoff(Generic[K]):
    """Per-key delays of base, 2·base, 4·base … up to cap, counted since the last `forget`."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        if not 0 < base <= cap:
            raise ValueError(f"backoff needs 0 < base <= cap, got base={base} cap={cap}")
        self.base = base
        self.cap = cap
        self._failures: dict[K, int] = {}

    def next_delay(self, key: K) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        # Past 2**64 every sane cap is reached; the bound keeps the float from overflowing.
        return min(self.cap, self.base * 2.0 ** min(failures, 64))

    def count(self, key: K) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)


def jittered(interval: float, fraction: float = 0.05) -> float:
    """`interval` moved by up to ±`fraction` of itself, so equal intervals spread out."""
    if not 0 <= fraction < 1:
        raise ValueError(f"jitter fraction must be in [0, 1), got {fraction}")
    return interval * (1 + random.uniform(-fraction, fraction))


class WorkQueue(Generic[K]):
    """Keys waiting to be processed: deduplicated, one at a time per key, FIFO otherwise."""

    def __init__(
        self,
        backoff: ExponentialBackoff[K] | None = None,
        metrics: QueueMetrics | None = None,
    ) -> None:
        self._backoff: ExponentialBackoff[K] = ExponentialBackoff() if backoff is None else backoff
        self._metrics: QueueMetrics = NoMetrics() if metrics is None else metrics
        self._ready: deque[K] = deque()
        self._ready_since: dict[K, float] = {}
        # Keys that need a pass: those in `_ready`, and processing keys added again.
        self._dirty: set[K] = set()
        self._processing: dict[K, float] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        # Delayed adds: the earliest deadline per key, and a heap that may hold stale entries.
        self._deadlines: dict[K, float] = {}
        self._timers: list[tuple[float, int, K]] = []
        self._sequence = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._ready)

    @property
    def shutting_down(self) -> bool:
        return self._closed.is_set()

    def add(self, key: K) -> None:
        if self.shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        self._metrics.added()
        if key in self._processing:
            return
        self._push(key)

    def add_after(self, key: K, delay: float) -> None:
        if self.shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        current = self._deadlines.get(key)
        if current is not None and current <= deadline:
            return
        self._deadlines[key] = deadline
        heapq.heappush(self._timers, (deadline, next(self._sequence), key))
        if self._timers[0][0] == deadline:
            self._arm(loop)

    def add_rate_limited(self, key: K) -> None:
        if not self.shutting_down:
            self._metrics.retried()
            self.add_after(key, self._backoff.next_delay(key))

    def forget(self, key: K) -> None:
        self._backoff.forget(key)

    def backoff_count(self, key: K) -> int:
        return self._backoff.count(key)

    def pending_delay(self, key: K) -> float | None:
        """Seconds until a delayed add of `key` is due, or None if none is pending."""
        deadline = self._deadlines.get(key)
        if deadline is None:
            return None
        return max(0.0, deadline - asyncio.get_running_loop().time())

    def apply(self, key: K, decision: reconcile.Decision) -> None:
        """Carry out what `reconcile.decide` chose for `key`."""
        if decision.backoff:
            self.add_rate_limited(key)
            return
        self.forget(key)
        if decision.requeue_after is not None:
            self.add_after(key, decision.requeue_after)

    async def get(self) -> K:
        """Wait for the next key; the caller owns it until it calls `done(key)`."""
        while not self._ready and not self.shutting_down:
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                if getter in self._getters:
                    self._getters.remove(getter)
                # Woken and then cancelled: hand the wake-up on so the key is not stranded.
                if not getter.cancelled() and self._ready:
                    self._wake_one()
                raise
        if self.shutting_down:
            raise ShutDown
        key = self._ready.popleft()
        self._metrics.depth_changed(len(self._ready))
        now = time.monotonic()
        self._metrics.waited(now - self._ready_since.pop(key))
        self._dirty.discard(key)
        self._processing[key] = now
        return key

    def done(self, key: K) -> None:
        """Release a key from `get`; if it was added while processing, it is queued again.

        Raises KeyError for a key that is not being processed: that is a worker's bug.
        """
        started = self._processing.pop(key)
        self._metrics.processed(time.monotonic() - started)
        if key in self._dirty and not self.shutting_down:
            self._push(key)

    def shutdown(self) -> None:
        """Stop handing out keys and wake every waiting `get`; safe to call twice."""
        if self.shutting_down:
            return
        self._closed.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadlines.clear()
        self._timers.clear()
        self._ready.clear()
        self._ready_since.clear()
        self._dirty.clear()
        self._metrics.depth_changed(0)
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)

    async def wait_shutdown(self) -> None:
        await self._closed.wait()

    def _push(self, key: K) -> None:
        self._ready.append(key)
        self._ready_since[key] = time.monotonic()
        self._metrics.depth_changed(len(self._ready))
        self._wake_one()

    def _wake_one(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(self._timers[0][0], self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        while self._timers:
            deadline, _, key = self._timers[0]
            # An entry is stale when an earlier deadline for its key replaced it or fired;
            # stale entries are dropped here so no timer is armed for them.
            live = self._deadlines.get(key) == deadline
            if live and deadline > now:
                break
            heapq.heappop(self._timers)
            if live:
                del self._deadlines[key]
                self.add(key)
        if self._timers:
            self._arm(loop)


Handler = Callable[[K], Awaitable[reconcile.Decision]]


async def run_workers(
    queue: WorkQueue[K],
    handler: Handler[K],
    concurrency: int,
    *,
    grace_period: float = 30.0,
) -> None:
    """Process keys with `concurrency` workers until `queue` shuts down.

    On shutdown, in-flight handlers get `grace_period` seconds to finish and are then
    cancelled; this returns only when every worker task has ended. A worker that fails
    outside its handler (a bug, not a reconcile error) shuts the queue down and its error
    is raised here. Cancelling this coroutine cancels in-flight handlers at once.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if grace_period < 0:
        raise ValueError(f"grace_period must not be negative, got {grace_period}")
    workers = [
        asyncio.create_task(_work(queue, handler), name=f"workqueue-worker-{i}")
        for i in range(concurrency)
    ]
    stopped = asyncio.create_task(queue.wait_shutdown())
    try:
        await asyncio.wait([stopped, *workers], return_when=asyncio.FIRST_COMPLETED)
        queue.shutdown()
        await asyncio.wait(workers, timeout=grace_period)
    finally:
        stopped.cancel()
        for worker in workers:
            worker.cancel()
        outcomes = await asyncio.gather(stopped, *workers, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome


async def _work(queue: WorkQueue[K], handler: Handler[K]) -> None:
    while True:
        try:
            key = await queue.get()
        except ShutDown:
            return
        try:
            try:
                decision = await handler(key)
            except Exception as exc:
                log.warning("handler for %s failed", key, exc_info=exc)
                decision = reconcile.decide(exc)
            queue.apply(key, decision)
        finally:
            queue.done(key)

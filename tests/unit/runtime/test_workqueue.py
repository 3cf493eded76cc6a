"""The workqueue and its workers: dedup, one pass per key at a time, delays, backoff, shutdown.

Delays are milliseconds; where a test waits for something to happen, the bound is a
generous five seconds, so only a broken queue (never a slow machine) fails it.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from kidp_gitops.runtime.reconcile import Decision
from kidp_gitops.runtime.workqueue import (
    ExponentialBackoff,
    ShutDown,
    WorkQueue,
    jittered,
    run_workers,
)

PATIENCE = 5.0

T = TypeVar("T")


async def soon(awaitable: Awaitable[T]) -> T:
    async with asyncio.timeout(PATIENCE):
        return await awaitable


async def until_true(condition: Callable[[], bool]) -> None:
    # Polling is the point: these conditions span several tasks and no one event reports them.
    async with asyncio.timeout(PATIENCE):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.001)


async def ticks(n: int = 5) -> None:
    """Let every ready task run a few steps."""
    for _ in range(n):
        await asyncio.sleep(0)


# The queue


async def test_a_waiting_key_is_queued_once() -> None:
    queue = WorkQueue[str]()
    for key in ("a", "b", "a", "a", "b"):
        queue.add(key)
    assert len(queue) == 2
    assert [await queue.get(), await queue.get()] == ["a", "b"]
    assert len(queue) == 0


async def test_a_key_added_while_processing_waits_for_done() -> None:
    queue = WorkQueue[str]()
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert len(queue) == 1, "a is being processed, so only b may be handed out"
    assert await queue.get() == "b"
    queue.done("a")
    assert len(queue) == 1, "the dirty key comes back once, however often it was added"
    assert await queue.get() == "a"


async def test_done_without_get_is_a_bug() -> None:
    queue = WorkQueue[str]()
    queue.add("a")
    with pytest.raises(KeyError):
        queue.done("a")


async def test_get_waits_for_an_add() -> None:
    queue = WorkQueue[str]()
    getter = asyncio.create_task(queue.get())
    await ticks()
    assert not getter.done()
    queue.add("a")
    assert await soon(getter) == "a"


async def test_a_cancelled_getter_passes_its_wake_up_on() -> None:
    queue = WorkQueue[str]()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await ticks()
    queue.add("a")  # wakes the first getter ...
    first.cancel()  # ... which is cancelled before it runs
    assert await soon(second) == "a"
    assert first.cancelled()


async def test_delayed_adds_arrive_in_deadline_order() -> None:
    queue = WorkQueue[str]()
    queue.add_after("late", 0.03)
    queue.add_after("early", 0.01)
    queue.add_after("middle", 0.02)
    assert len(queue) == 0
    assert [await soon(queue.get()) for _ in range(3)] == ["early", "middle", "late"]


async def test_the_earliest_deadline_asked_wins() -> None:
    queue = WorkQueue[str]()
    queue.add_after("a", 10)
    first = queue.pending_delay("a")
    assert first is not None
    assert 9 < first <= 10
    queue.add_after("a", 0.01)
    earlier = queue.pending_delay("a")
    assert earlier is not None
    assert earlier <= 0.01
    queue.add_after("a", 20)
    later = queue.pending_delay("a")
    assert later is not None
    assert later <= 0.01
    assert await soon(queue.get()) == "a"
    assert queue.pending_delay("a") is None, "the replaced 10 s deadline must not fire later"


async def test_a_delay_of_zero_adds_now() -> None:
    queue = WorkQueue[str]()
    queue.add_after("a", 0)
    assert len(queue) == 1


async def test_a_delayed_add_of_a_waiting_key_is_deduplicated() -> None:
    queue = WorkQueue[str]()
    queue.add("a")
    queue.add_after("a", 0.005)
    await until_true(lambda: queue.pending_delay("a") is None)
    assert len(queue) == 1


def test_backoff_doubles_from_base_up_to_cap() -> None:
    backoff = ExponentialBackoff[str](base=0.01, cap=0.1)
    delays = [backoff.next_delay("a") for _ in range(6)]
    assert delays == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.1, 0.1])
    assert backoff.count("a") == 6
    assert backoff.next_delay("b") == pytest.approx(0.01), "each key backs off on its own"
    backoff.forget("a")
    assert backoff.count("a") == 0
    assert backoff.next_delay("a") == pytest.approx(0.01)


def test_backoff_stays_at_cap_after_many_failures() -> None:
    backoff = ExponentialBackoff[str]()
    assert (backoff.base, backoff.cap) == (0.005, 1000.0)
    for _ in range(5000):
        delay = backoff.next_delay("a")
    assert delay == 1000.0


@pytest.mark.parametrize(("base", "cap"), [(0, 1), (-1, 1), (2, 1)])
def test_backoff_refuses_nonsense(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="base"):
        ExponentialBackoff[str](base=base, cap=cap)


async def test_rate_limited_adds_count_failures_until_forgotten() -> None:
    queue = WorkQueue[str](backoff=ExponentialBackoff(base=0.001, cap=0.01))
    queue.add_rate_limited("a")
    assert queue.backoff_count("a") == 1
    assert await soon(queue.get()) == "a"
    queue.done("a")
    queue.add_rate_limited("a")
    assert queue.backoff_count("a") == 2
    assert await soon(queue.get()) == "a"
    queue.forget("a")
    assert queue.backoff_count("a") == 0


async def test_a_rate_limited_key_is_not_ready_before_its_delay() -> None:
    queue = WorkQueue[str](backoff=ExponentialBackoff(base=10, cap=100))
    queue.add_rate_limited("a")
    await asyncio.sleep(0.02)
    assert len(queue) == 0
    delay = queue.pending_delay("a")
    assert delay is not None
    assert 9 < delay <= 10
    queue.shutdown()


def test_jitter_stays_within_the_fraction_and_spreads() -> None:
    samples = [jittered(60.0) for _ in range(2000)]
    assert all(57.0 <= s <= 63.0 for s in samples)
    # 2000 uniform draws over ±3 s all landing within one second of each other is impossible
    # in practice; a jitter that does nothing would.
    assert max(samples) - min(samples) > 1.0
    assert jittered(60.0, fraction=0) == 60.0
    with pytest.raises(ValueError, match="fraction"):
        jittered(60.0, fraction=1.5)


async def test_apply_carries_out_each_decision() -> None:
    queue = WorkQueue[str]()
    queue.add_rate_limited("a")
    queue.apply("a", Decision(backoff=True))
    assert queue.backoff_count("a") == 2

    queue.apply("a", Decision(requeue_after=30))
    assert queue.backoff_count("a") == 0
    assert queue.pending_delay("a") is not None

    queue.add_rate_limited("b")
    queue.apply("b", Decision())
    assert queue.backoff_count("b") == 0
    assert len(queue) == 0
    queue.shutdown()


async def test_shutdown_wakes_getters_and_drops_waiting_keys() -> None:
    queue = WorkQueue[str]()
    getter = asyncio.create_task(queue.get())
    await ticks()
    queue.add_after("delayed", 0.001)
    queue.shutdown()
    with pytest.raises(ShutDown):
        await soon(getter)

    queue.add("a")
    queue.add_after("b", 0.001)
    queue.add_rate_limited("c")
    assert len(queue) == 0
    assert queue.pending_delay("delayed") is None
    assert queue.pending_delay("b") is None
    with pytest.raises(ShutDown):
        await queue.get()
    queue.shutdown()  # twice is fine


async def test_keys_taken_before_shutdown_can_still_be_done() -> None:
    queue = WorkQueue[str]()
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.shutdown()
    queue.done("a")
    assert len(queue) == 0


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, float]] = []

    def depth_changed(self, depth: int) -> None:
        self.events.append(("depth", depth))

    def added(self) -> None:
        self.events.append(("added", 1))

    def retried(self) -> None:
        self.events.append(("retried", 1))

    def waited(self, seconds: float) -> None:
        self.events.append(("waited", seconds))

    def processed(self, seconds: float) -> None:
        self.events.append(("processed", seconds))


async def test_metrics_hooks_see_adds_depth_wait_and_processing() -> None:
    recorder = _Recorder()
    queue = WorkQueue[str](backoff=ExponentialBackoff(base=0.001), metrics=recorder)
    queue.add("a")
    queue.add("a")  # deduplicated: not an add
    queue.add("b")
    key = await queue.get()
    queue.done(key)
    names = [name for name, _ in recorder.events]
    assert names == ["added", "depth", "added", "depth", "depth", "waited", "processed"]
    assert [value for name, value in recorder.events if name == "depth"] == [1, 2, 1]
    assert all(value >= 0 for _, value in recorder.events)

    recorder.events.clear()
    queue.add_rate_limited("c")
    assert [name for name, _ in recorder.events] == ["retried"]
    queue.shutdown()


# The workers


async def test_no_key_is_processed_twice_at_once_and_no_add_is_lost() -> None:
    queue = WorkQueue[int]()
    keys = range(8)
    clock = itertools.count()
    last_add: dict[int, int] = {}
    last_start: dict[int, int] = {}
    in_flight: set[int] = set()
    overlaps = 0
    most_in_flight = 0

    async def handler(key: int) -> Decision:
        nonlocal overlaps, most_in_flight
        if key in in_flight:
            overlaps += 1
        in_flight.add(key)
        most_in_flight = max(most_in_flight, len(in_flight))
        last_start[key] = next(clock)
        await ticks(2)  # producers add keys while this one is in flight
        in_flight.discard(key)
        return Decision()

    async def produce(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(300):
            key = rng.choice(keys)
            last_add[key] = next(clock)
            queue.add(key)
            await asyncio.sleep(0)

    workers = asyncio.create_task(run_workers(queue, handler, concurrency=4))
    await soon(asyncio.gather(*(produce(seed) for seed in range(6))))
    await until_true(lambda: len(queue) == 0 and not in_flight)
    queue.shutdown()
    await soon(workers)

    assert overlaps == 0
    assert most_in_flight > 1, "the workers should have run side by side"
    for key in keys:
        assert last_start[key] > last_add[key], f"key {key} was added after its last pass"


async def test_never_more_handlers_in_flight_than_workers() -> None:
    queue = WorkQueue[int]()
    in_flight = 0
    most = 0
    handled: list[int] = []

    async def handler(key: int) -> Decision:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.002)
        in_flight -= 1
        handled.append(key)
        return Decision()

    for key in range(20):
        queue.add(key)
    workers = asyncio.create_task(run_workers(queue, handler, concurrency=3))
    await until_true(lambda: len(handled) == 20)
    queue.shutdown()
    await soon(workers)
    assert most == 3
    assert sorted(handled) == list(range(20))


async def test_a_failing_handler_is_retried_with_backoff_then_forgotten() -> None:
    queue = WorkQueue[str](backoff=ExponentialBackoff(base=0.001, cap=0.01))
    calls: list[str] = []
    counts: list[int] = []

    async def handler(key: str) -> Decision:
        calls.append(key)
        counts.append(queue.backoff_count(key))
        if len(calls) < 3:
            raise ConnectionError("API server went away")
        return Decision()

    queue.add("a")
    workers = asyncio.create_task(run_workers(queue, handler, concurrency=1))
    await until_true(lambda: len(calls) == 3)
    await ticks()
    assert counts == [0, 1, 2]
    assert queue.backoff_count("a") == 0
    queue.shutdown()
    await soon(workers)


async def test_a_requeue_after_brings_the_key_back() -> None:
    queue = WorkQueue[str]()
    calls: list[str] = []

    async def handler(key: str) -> Decision:
        calls.append(key)
        return Decision(requeue_after=0.001) if len(calls) == 1 else Decision()

    queue.add("a")
    workers = asyncio.create_task(run_workers(queue, handler, concurrency=2))
    await until_true(lambda: len(calls) == 2)
    queue.shutdown()
    await soon(workers)
    assert calls == ["a", "a"]


async def test_shutdown_lets_in_flight_handlers_finish() -> None:
    queue = WorkQueue[str]()
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def handler(key: str) -> Decision:
        started.set()
        await release.wait()
        finished.append(key)
        return Decision()

    queue.add("a")
    queue.add("b")
    workers = asyncio.create_task(run_workers(queue, handler, concurrency=1))
    await soon(started.wait())
    queue.shutdown()
    await ticks()
    assert not workers.done(), "the handler for a is still running"
    release.set()
    await soon(workers)
    assert finished == ["a"], "b was still waiting, so shutdown dropped it"


async def test_handlers_past_the_grace_period_are_cancelled_without_leaks() -> None:
    before = asyncio.all_tasks()
    queue = WorkQueue[str]()
    cancelled: list[str] = []

    async def handler(key: str) -> Decision:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(key)
            raise
        return Decision()

    queue.add("a")
    queue.add("b")
    workers = asyncio.create_task(run_workers(queue, handler, concurrency=2, grace_period=0.01))
    await ticks()
    queue.shutdown()
    await soon(workers)
    assert sorted(cancelled) == ["a", "b"]
    assert asyncio.all_tasks() == before


async def test_cancelling_the_workers_cancels_handlers_without_leaks() -> None:
    before = asyncio.all_tasks()
    queue = WorkQueue[str]()
    cancelled: list[str] = []

    async def handler(key: str) -> Decision:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(key)
            raise
        return Decision()

    queue.add("a")
    workers = asyncio.create_task(run_workers(queue, handler, concurrency=2))
    await ticks()
    workers.cancel()
    with pytest.raises(asyncio.CancelledError):
        await soon(workers)
    assert cancelled == ["a"]
    assert asyncio.all_tasks() == before


async def test_a_worker_bug_shuts_the_queue_and_surfaces() -> None:
    class Broken(_Recorder):
        def processed(self, seconds: float) -> None:
            raise RuntimeError("metrics backend exploded")

    queue = WorkQueue[str](metrics=Broken())

    async def handler(key: str) -> Decision:
        return Decision()

    queue.add("a")
    with pytest.raises(RuntimeError, match="exploded"):
        await soon(run_workers(queue, handler, concurrency=2))
    assert queue.shutting_down


async def test_run_workers_refuses_nonsense() -> None:
    queue = WorkQueue[str]()

    async def handler(key: str) -> Decision:
        return Decision()

    with pytest.raises(ValueError, match="concurrency"):
        await run_workers(queue, handler, concurrency=0)
    with pytest.raises(ValueError, match="grace_period"):
        await run_workers(queue, handler, concurrency=1, grace_period=-1)

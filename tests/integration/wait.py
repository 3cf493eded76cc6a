"""Waiting with a deadline, for conditions the cluster reaches asynchronously.

    until(probe, timeout, what)              any condition: `probe` polled every 0.2 s
    until_object(kube, path, check, …)       one object's condition: watched, not polled

Most waits are on one object (a Kustomization Ready at a revision, a ConfigMap's value).
Polled, each costs the API server a read every 0.2 s for as long as it waits, in every
test process at once; watched, it costs one list and then only the object's own changes.
Both fail the same way: an AssertionError naming what was awaited and the last answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kidp_gitops.kube import ConnectionFailed, KubeClient
from kidp_gitops.kube.informer import WatchGone, raise_for_watch_error

T = TypeVar("T")

JSON = dict[str, Any]


def _timed_out(timeout: float, what: str, last: object) -> AssertionError:
    return AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


async def until(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 30.0, what: str = "condition"
) -> T:
    """Return the first truthy result of `probe`, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise _timed_out(timeout, what, last)


async def until_object(
    kube: KubeClient,
    path: str,
    check: Callable[[JSON | None], T | None],
    timeout: float = 30.0,
    what: str = "condition",
) -> T:
    """Return the first truthy `check(obj)` of the object at `path` (an object's API path;
    `check` gets None while the object does not exist), or fail after `timeout` seconds.

    The object's collection is listed, selected by name, and then watched from the list's
    resourceVersion, so `check` sees every state the object passes through (a poll could
    step over a short one) and the API server sends only its changes. A watch that ends or
    breaks, or whose resourceVersion expired (410), lists again."""
    collection, _, name = path.rpartition("/")
    selector = {"fieldSelector": f"metadata.name={name}"}
    last: T | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                listed = await kube.get(collection, selector)
                items = listed.get("items") or []
                last = check(items[0] if items else None)
                if last:
                    return last
                params = {
                    **selector,
                    "watch": "1",
                    "allowWatchBookmarks": "true",
                    "resourceVersion": str(listed["metadata"]["resourceVersion"]),
                }
                # The deadline above ends a silent watch; this bounds a dead connection.
                events = kube.stream(collection, params, read_timeout=timeout + 30)
                try:
                    async with contextlib.aclosing(events):
                        async for event in events:
                            state = _state(event)
                            if state is _BOOKMARK:
                                continue
                            last = check(state)
                            if last:
                                return last
                except (WatchGone, ConnectionFailed):
                    await asyncio.sleep(0.2)  # a broken watch: list again, not at once
    except TimeoutError:
        raise _timed_out(timeout, what, last) from None


_BOOKMARK: JSON = {}


def _state(event: JSON) -> JSON | None:
    """The object an ADDED or MODIFIED event carries, None after DELETED, `_BOOKMARK`
    for a bookmark (no change); an ERROR event raised."""
    raise_for_watch_error(event)
    kind = event.get("type")
    obj = event.get("object") or {}
    if kind == "BOOKMARK":
        return _BOOKMARK
    return None if kind == "DELETED" else obj

"""Kubernetes Events about our objects, aggregated as client-go aggregates them.

An event repeated for the same object, type, reason and message does not create a new
Event: the existing one gets its `count` raised and `lastTimestamp` moved, so
`kubectl describe` shows "x5 over 3m" instead of five lines. A per-object token bucket
(a burst of 25, one token back every 5 minutes) stops a flapping object from flooding
the API server. Recording never raises into the reconciler and never waits for the API
server: writes happen in the background, and `flush()` waits for them.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError, KubeError
from kidp_gitops.runtime import redact

log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]
_MESSAGE_MAX = 1024  # the API server rejects larger event messages


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int


@dataclass
class _Bucket:
    tokens: float
    at: float


class EventRecorder:
    def __init__(
        self,
        client: KubeClient,
        component: str,
        *,
        burst: int = 25,
        refill_seconds: float = 300.0,
        cache_size: int = 4096,
    ):
        self._client = client
        self.component = component
        self._burst = burst
        self._refill = refill_seconds
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        self._buckets: dict[str, _Bucket] = {}
        self._cache_size = cache_size
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    def record(
        self,
        obj: JSON,
        type_: EventType,
        reason: str,
        message: str,
        annotations: dict[str, str] | None = None,
    ) -> None:
        """Record an event about `obj` (any object with apiVersion, kind and metadata)."""
        meta = obj.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        owner = redact.owner_key(
            str(obj.get("kind")), str(meta.get("namespace")), str(meta.get("name"))
        )
        message = redact.REDACTOR.text(owner, message)
        if not self._take_token(uid or str(meta.get("name"))):
            log.debug("event about %s dropped by the spam filter: %s", meta.get("name"), reason)
            return
        task = asyncio.create_task(
            self._write(obj, type_, reason, message[:_MESSAGE_MAX], annotations or {})
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Wait until every recorded event has been written (or given up)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _take_token(self, key: str) -> bool:
        now = time.monotonic()
        bucket = self._buckets.setdefault(key, _Bucket(float(self._burst), now))
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) / self._refill)
        bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    async def _write(
        self, obj: JSON, type_: EventType, reason: str, message: str, annotations: dict[str, str]
    ) -> None:
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        key = (str(meta.get("uid")), type_, reason, message)
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            async with self._lock:  # one write per key at a time keeps counts exact
                seen = self._seen.get(key)
                if seen is not None:
                    try:
                        await self._client.patch(
                            f"/api/v1/namespaces/{seen.namespace}/events/{seen.name}",
                            {"count": seen.count + 1, "lastTimestamp": now},
                        )
                        seen.count += 1
                        self._seen.move_to_end(key)
                        return
                    except ApiError as err:
                        if not err.not_found:  # expired (event TTL): start a new one
                            raise
                        del self._seen[key]
                digest = hashlib.sha1("|".join(key).encode()).hexdigest()[:10]
                name = f"{meta.get('name')}.{digest}{time.time_ns() % 10**6:06d}"
                await self._client.create(
                    f"/api/v1/namespaces/{namespace}/events",
                    {
                        "metadata": {
                            "name": name,
                            "namespace": namespace,
                            "annotations": annotations,
                        },
                        "involvedObject": {
                            "apiVersion": obj.get("apiVersion"),
                            "kind": obj.get("kind"),
                            "name": meta.get("name"),
                            "namespace": meta.get("namespace"),
                            "uid": meta.get("uid"),
                            "resourceVersion": meta.get("resourceVersion"),
                        },
                        "type": type_,
                        "reason": reason,
                        "message": message,
                        "count": 1,
                        "firstTimestamp": now,
                        "lastTimestamp": now,
                        "source": {"component": self.component},
                        "reportingComponent": self.component,
                    },
                )
                self._seen[key] = _Seen(name, namespace, 1)
                if len(self._seen) > self._cache_size:
                    self._seen.popitem(last=False)
        except KubeError as err:
            # An event is advice, not state: losing one must not fail a reconcile.
            log.warning("could not record event %s on %s: %s", reason, meta.get("name"), err)

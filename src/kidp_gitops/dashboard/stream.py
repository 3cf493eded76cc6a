"""Live updates: informer changes fanned out to every open `/api/v1/stream`.

Where it fits: handlers on the cache's informers (which must be quick and never block)
turn a change into a small message and put it on each subscriber's queue; the server
writes each queue out as server-sent events. Messages:

    object    a GitOps object was added or changed: its table row
    deleted   a GitOps object is gone: kind, namespace, name
    managed   an object some Kustomization applied changed: kind, namespace, name, owner
    event     a new or repeated Event about a GitOps object: its event row
    resync    this subscriber fell behind and lost messages: reload everything

Informers made later (a Kustomization applying a kind for the first time adds one) are
picked up by `attach`, which the server calls on a short timer. A subscriber whose
queue is full gets one `resync` instead of an ever-growing backlog.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from kidp_gitops.dashboard import view
from kidp_gitops.dashboard.reader import CacheReader
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.informer import EventType, Informer

Message = dict[str, Any]

QUEUE_LIMIT: Final = 1000
OWNER_NAME: Final = "kustomize.toolkit.fluxcd.io/name"
OWNER_NAMESPACE: Final = "kustomize.toolkit.fluxcd.io/namespace"


class Subscriber:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False

    def put(self, message: Message) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True

    async def next(self) -> Message:
        if self.overflowed and self.queue.empty():
            self.overflowed = False
            return {"type": "resync"}
        return await self.queue.get()


class Broker:
    def __init__(self, reader: CacheReader):
        self._reader = reader
        self._attached: set[int] = set()
        self._subscribers: set[Subscriber] = set()
        self._replaying = False

    def subscribe(self) -> Subscriber:
        sub = Subscriber()
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def attach(self) -> None:
        """Add a handler to every informer of the cache not handled yet."""
        flux = {id(i) for i in self._reader.flux_informers()}
        events = {id(i) for i in self._reader.event_informers()}
        for informer in self._reader.all_informers():
            if id(informer) in self._attached:
                continue
            self._attached.add(id(informer))
            if id(informer) in flux:
                handler = self._on_flux
            elif id(informer) in events:
                handler = self._on_event
            else:
                handler = self._on_managed
            self._add(informer, handler)

    def _add(self, informer: Informer, handler: Any) -> None:
        # add_handler first replays the objects already stored: not news.
        self._replaying = True
        try:
            informer.add_handler(handler)
        finally:
            self._replaying = False

    def publish(self, message: Message) -> None:
        if self._replaying:
            return
        for sub in list(self._subscribers):
            sub.put(message)

    def _on_flux(self, event: EventType, obj: JSON) -> None:
        if not self._subscribers:
            return
        if event == "DELETED":
            meta = obj.get("metadata") or {}
            self.publish(
                {
                    "type": "deleted",
                    "kind": str(obj.get("kind", "")),
                    "namespace": str(meta.get("namespace", "")),
                    "name": str(meta.get("name", "")),
                }
            )
        else:
            self.publish({"type": "object", "object": view.row(obj)})

    def _on_event(self, event: EventType, obj: JSON) -> None:
        if self._subscribers and event != "DELETED" and view.is_flux_event(obj):
            self.publish({"type": "event", "event": view.event_row(obj)})

    def _on_managed(self, event: EventType, obj: JSON) -> None:
        if not self._subscribers:
            return
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        self.publish(
            {
                "type": "managed",
                "kind": str(obj.get("kind", "")),
                "namespace": str(meta.get("namespace", "")),
                "name": str(meta.get("name", "")),
                "owner": {
                    "namespace": str(labels.get(OWNER_NAMESPACE, "")),
                    "name": str(labels.get(OWNER_NAME, "")),
                },
            }
        )

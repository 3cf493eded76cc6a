"""A cached, watched list of one resource: list once, then follow the watch.

The store always converges on what the server holds. The watch resumes from the last
resourceVersion it saw (bookmarks keep that fresh for quiet, filtered watches); when the
server no longer has that version (410 Gone) the informer lists again and emits the
difference — additions, changes and deletions it missed — so handlers never lose an
event across a watch expiry or an API server restart.

Handlers are plain callables run in the informer's task: they must be quick (enqueue a
key) and must not block.

A metadata-only informer asks the server for `PartialObjectMetadata` (what
controller-runtime's metadata informers ask for): names, labels and resourceVersions
without the objects' content, and without `managedFields`, which it drops. That is how
a controller follows every object of a kind whose content it reads only now and then
(Secrets), at a fraction of the memory and traffic, and without holding their values.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable
from typing import Literal

from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError, ConnectionFailed
from kidp_gitops.kube.mapper import Resource

log = logging.getLogger(__name__)

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
Handler = Callable[[EventType, JSON], None]
IndexFunc = Callable[[JSON], Iterable[str]]

_JSON = "application/json"
# Servers that cannot answer with metadata only answer with whole objects (the fallback).
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
_METADATA_OBJECT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


def object_key(obj: JSON) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else str(meta["name"])


class _Gone(Exception):
    """The resourceVersion we watch from is too old: list again."""


class Informer:
    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
    ):
        self._client = client
        self._path = resource.path(namespace)
        self._selectors = {
            k: v
            for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector))
            if v
        }
        self.resource = resource
        self.metadata_only = metadata_only
        shape = (_METADATA_LIST, _METADATA_OBJECT) if metadata_only else (_JSON, _JSON)
        self._accept_list, self._accept_watch = shape
        self._store: dict[str, JSON] = {}
        self._handlers: list[Handler] = []
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}
        self._rv = ""
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.relists = 0  # how often a full list was needed (1 = only the first)

    # ---- reading -------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> JSON | None:
        return self._store.get(f"{namespace}/{name}" if namespace else name)

    def objects(self) -> list[JSON]:
        return list(self._store.values())

    def by_index(self, index: str, value: str) -> list[JSON]:
        keys = self._indices[index].get(value, set())
        return [self._store[k] for k in keys if k in self._store]

    def __len__(self) -> int:
        return len(self._store)

    # ---- wiring --------------------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        """Call `handler` for every change; it first sees the objects already stored."""
        self._handlers.append(handler)
        for obj in self._store.values():
            handler("ADDED", obj)

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        self._indexers[name] = func
        index: dict[str, set[str]] = {}
        for key, obj in self._store.items():
            for value in func(obj):
                index.setdefault(value, set()).add(key)
        self._indices[name] = index

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"informer {self._path}")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_synced(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self.synced.wait(), timeout)

    # ---- the loop ------------------------------------------------------------------

    async def run(self) -> None:
        delay = 0.2
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                await self._watch()
                delay = 0.2  # a watch that ended normally: resume at once
            except _Gone:
                need_list = True
            except (ConnectionFailed, ApiError) as err:
                if isinstance(err, ApiError) and err.gone:
                    need_list = True
                    continue
                log.info("watch %s interrupted (%s); retrying in %.1fs", self._path, err, delay)
                await asyncio.sleep(delay * (1 + random.random() / 2))
                delay = min(delay * 2, 5.0)

    async def _relist(self) -> None:
        listed = await self._client.list(self._path, self._selectors, accept=self._accept_list)
        self.relists += 1
        fresh = {object_key(o): o for o in listed.get("items") or []}
        for key, obj in fresh.items():
            self._complete(obj)
            old = self._store.get(key)
            if old is None:
                self._apply("ADDED", key, obj)
            elif old["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._apply("MODIFIED", key, obj)
        for key in [k for k in self._store if k not in fresh]:
            self._apply("DELETED", key, self._store[key])
        self._rv = listed.get("metadata", {}).get("resourceVersion", "")
        self.synced.set()

    async def _watch(self) -> None:
        timeout = random.randint(240, 300)  # spread watch restarts over time
        params = {
            **self._selectors,
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": self._rv,
            "timeoutSeconds": str(timeout),
        }
        events = self._client.stream(
            self._path, params, read_timeout=timeout + 30, accept=self._accept_watch
        )
        async for event in events:
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise _Gone
                raise ApiError(
                    int(obj.get("code") or 500),
                    str(obj.get("reason") or ""),
                    str(obj.get("message") or "watch error"),
                    obj,
                )
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if kind == "BOOKMARK":
                self._rv = rv or self._rv
                continue
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                self._complete(obj)
                key = object_key(obj)
                self._bound(kind, key)
                self._apply(kind, key, obj)
                self._rv = rv or self._rv

    def _bound(self, kind: str, key: str) -> None:
        """A bounded client's store grows no larger than its listings may: a server
        someone else runs could announce new objects without end. The watch breaks
        instead, and the informer watches again after a pause (a listing has the same bound)."""
        limit = self._client.max_items
        grows = kind != "DELETED" and key not in self._store
        if limit is not None and grows and len(self._store) >= limit:
            raise ConnectionFailed(f"watch {self._path}: more than {limit} objects")

    def _complete(self, obj: JSON) -> None:
        """Whole objects for the handlers: lists return items without apiVersion/kind,
        and metadata-only answers name the kind PartialObjectMetadata."""
        if self.metadata_only:
            obj["apiVersion"], obj["kind"] = self.resource.api_version, self.resource.kind
            (obj.get("metadata") or {}).pop("managedFields", None)
        else:
            obj.setdefault("apiVersion", self.resource.api_version)
            obj.setdefault("kind", self.resource.kind)

    def _apply(self, event: EventType, key: str, obj: JSON) -> None:
        old = self._store.get(key)
        if event == "DELETED":
            self._store.pop(key, None)
        else:
            self._store[key] = obj
        for name, func in self._indexers.items():
            index = self._indices[name]
            if old is not None:
                for value in func(old):
                    index.get(value, set()).discard(key)
            if event != "DELETED":
                for value in func(obj):
                    index.setdefault(value, set()).add(key)
        for handler in self._handlers:
            try:
                handler(event, obj)
            except Exception:  # one broken handler must not stop the informer
                log.exception("informer handler failed for %s %s", event, key)

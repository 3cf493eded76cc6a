"""A cached, watched list of one resource: list once, then follow the watch.

The store always converges on what the server holds. The watch resumes from the last
resourceVersion it saw (bookmarks keep that fresh for quiet, filtered watches); when the
server no longer has that version (410 Gone) the informer lists again and emits the
difference — additions, changes and deletions it missed — so handlers never lose an
event across a watch expiry or an API server restart.

Handlers are plain callables run in the informer's task: they must be quick (enqueue a
key) and must not block.

Two client-side options shape what a store holds, for informers of many objects that
a process reads only in part (a shard's share of every object Kustomizations applied):
`keep` refuses objects — neither stored nor reported; one stored earlier and refused now
leaves the store without an event (it left this process's view; it was not deleted,
and its deletion is still reported should it come) — and `transform` trims an object
before it is stored and reported (`without_field_sets`).

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
Keep = Callable[[JSON], bool]
Transform = Callable[[JSON], None]

_JSON = "application/json"
# Servers that cannot answer with metadata only answer with whole objects (the fallback).
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
_METADATA_OBJECT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


def without_field_sets(obj: JSON) -> None:
    """A `transform`: `managedFields` entries keep who wrote and how (manager,
    operation, subresource, apiVersion, time) but not which fields (`fieldsV1`, most of
    an entry, and often the larger part of a small object held in memory)."""
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if isinstance(entry, dict):
            entry.pop("fieldsV1", None)


def object_key(obj: JSON) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else str(meta["name"])


class WatchGone(Exception):
    """The resourceVersion we watch from is too old (410): list again."""


def raise_for_watch_error(event: JSON) -> None:
    """Raise what a watch's ERROR event says: `WatchGone` for 410, else `ApiError`."""
    if event.get("type") != "ERROR":
        return
    obj = event.get("object") or {}
    if obj.get("code") == 410:
        raise WatchGone
    raise ApiError(
        int(obj.get("code") or 500),
        str(obj.get("reason") or ""),
        str(obj.get("message") or "watch error"),
        obj,
    )


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
        keep: Keep | None = None,
        transform: Transform | None = None,
    ):
        self._client = client
        self._keep = keep
        self._transform = transform
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
            except WatchGone:
                need_list = True
            except (ConnectionFailed, ApiError) as err:
                if isinstance(err, ApiError) and err.gone:
                    need_list = True
                    continue
                log.info("watch %s interrupted (%s); retrying in %.1fs", self._path, err, delay)
                await asyncio.sleep(delay * (1 + random.random() / 2))
                delay = min(delay * 2, 5.0)

    async def _relist(self) -> None:
        rv = ""
        fresh: dict[str, JSON] = {}
        refused: set[str] = set()
        # Page by page: what `keep` refuses and what `transform` trims go before the next
        # page comes, so a shard listing every managed Deployment of a cluster holds its
        # share, not the whole list with every object's field sets.
        pages = self._client.pages(self._path, self._selectors, accept=self._accept_list)
        async for page in pages:
            rv = rv or str(page.get("metadata", {}).get("resourceVersion", ""))
            for obj in page.get("items") or []:
                if self._keep is None or self._keep(obj):
                    self._complete(obj)
                    fresh[object_key(obj)] = obj
                else:
                    refused.add(object_key(obj))
            page.clear()
        self.relists += 1
        for key in [k for k in self._store if k in refused]:
            self._drop(key)
        left = [k for k in self._store if k not in fresh]
        for key, obj in fresh.items():
            old = self._store.get(key)
            if old is None:
                self._apply("ADDED", key, obj)
            elif old["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._apply("MODIFIED", key, obj)
        for key in left:
            self._apply("DELETED", key, self._store[key])
        self._rv = rv
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
            raise_for_watch_error(event)
            kind = event.get("type")
            obj = event.get("object") or {}
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if kind == "BOOKMARK":
                self._rv = rv or self._rv
                continue
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                key = object_key(obj)
                if kind != "DELETED" and self._keep is not None and not self._keep(obj):
                    self._drop(key)
                    self._rv = rv or self._rv
                    continue
                if kind == "DELETED" and key not in self._store and self._keep is not None:
                    self._rv = rv or self._rv  # never held: nothing to report
                    continue
                self._complete(obj)
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
        if self._transform is not None:
            self._transform(obj)

    def _drop(self, key: str) -> None:
        """Out of the store and its indices, no handler told: refused by `keep`."""
        old = self._store.pop(key, None)
        if old is None:
            return
        for name, func in self._indexers.items():
            for value in func(old):
                self._indices[name].get(value, set()).discard(key)

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

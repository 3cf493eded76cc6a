"""Where the engine keeps its `suspicion` of releases: a ConfigMap in the engine's own
namespace (its lease's), named after its lease (each shard and each Deployment electing
its own leader keeps its own).

    store = SuspicionStore(manager, "flux-system", "kidp-controller-leader-helm-suspects")
    await store.loaded(suspicion)   # once per time the controller starts (leads)
    store.changed(suspicion)        # after a change: written soon, in the background
    await store.close()             # the last change written (within a few seconds)

Read when the controller starts, so a chart that ended the shared Helm helper gets no
fresh start from a restart or a leader change. Written only when the suspicion changed
(the shared helper ended under a release, a release was found guilty or acquitted),
coalesced over `SETTLE` and retried with back-off while the API server refuses; a write
that cannot be made costs the memory of this process only, never an action. The
ConfigMap is the engine's: a tenant's objects live in their own namespaces, and under
lockdown (Flux's flags) no tenant may write the engine's namespace. What it holds is
read as untrusted all the same (`Suspicion.restore` keeps what it can read, bounded).
It names releases (namespace/name), nothing of their values.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kidp_gitops.helm.suspicion import Suspicion
from kidp_gitops.kube.errors import ApiError, KubeError
from kidp_gitops.kube.ssa import ResourceManager

log = logging.getLogger(__name__)

KEY = "suspicion.json"
"""The ConfigMap's key holding `Suspicion.document()`."""
SUFFIX = "-helm-suspects"
"""What the ConfigMap's name adds to the lease's."""
SETTLE = 0.5
"""Seconds a write waits for the changes of the same moment (one end of the helper
suspects every release in flight)."""
RETRY_MIN, RETRY_MAX = 2.0, 60.0
FLUSH_WAIT = 5.0
"""How long `close` waits for the last write."""


class Unreadable(Exception):
    """The ConfigMap could not be read (the API server did not answer): the actions wait,
    since what it says might send a release to the shared helper it ended before."""


class SuspicionStore:
    """One engine's suspicion, kept in ConfigMap `namespace`/`name`."""

    def __init__(self, manager: ResourceManager, namespace: str, name: str):
        self.manager = manager
        """Writes the ConfigMap (one forced apply, as its only writer)."""
        self.namespace = namespace
        self.name = name
        self._loaded = False
        self._load_lock = asyncio.Lock()
        self._written: str | None = None
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._pending: Suspicion | None = None
        self._refused = False
        """The engine may not read or write the ConfigMap (said once): memory only."""

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/configmaps/{self.name}"

    async def loaded(self, suspicion: Suspicion) -> None:
        """Fill `suspicion` with what is kept, once until `close` (the next leader, or
        this process leading again, reads it anew). A missing ConfigMap or namespace
        is nothing kept; one the engine may not read is said once, then memory only.
        Raises `Unreadable` when the API server did not answer."""
        async with self._load_lock:  # uncontended once loaded: no wait
            if self._loaded:
                return
            where = f"ConfigMap {self.namespace}/{self.name}"
            try:
                found = await self.manager.client.get(self.path)
            except ApiError as err:
                if not (err.not_found or err.forbidden):
                    raise Unreadable(f"reading {where}: {err}") from err
                if err.forbidden:
                    self._refuse(err)
                found = {}
            except KubeError as err:
                raise Unreadable(f"reading {where}: {err}") from err
            text = (found.get("data") or {}).get(KEY)
            if isinstance(text, str):
                if not suspicion.restore(text):
                    log.warning(
                        "%s: what it holds could not all be read (too long, too deep, or not"
                        " times); what could not is forgotten",
                        where,
                    )
                self._written = _document(suspicion)
            self._loaded = True

    def changed(self, suspicion: Suspicion) -> None:
        """`suspicion` changed: write it soon (in the background)."""
        if self._refused:
            return
        self._pending = suspicion
        self._wake.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_changes(), name="helm-suspects")

    async def close(self) -> None:
        """Write what changed last (waiting at most `FLUSH_WAIT`), stop writing, and read
        again at the next `loaded`."""
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_WAIT):
                    await self._flush()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        self._loaded = False

    async def _flush(self) -> None:
        if self._pending is not None:
            with contextlib.suppress(KubeError):
                await self._write(self._pending)

    async def _write_changes(self) -> None:
        delay = RETRY_MIN
        while True:
            await self._wake.wait()
            await asyncio.sleep(SETTLE)
            self._wake.clear()
            suspicion = self._pending
            if suspicion is None:
                continue
            try:
                await self._write(suspicion)
                delay = RETRY_MIN
                continue
            except ApiError as err:
                if err.forbidden:
                    self._refuse(err)
                    return
                failed: KubeError = err
            except KubeError as err:
                failed = err
            log.warning(
                "keeping the helm helper's suspects in ConfigMap %s/%s failed (retried in %gs): %s",
                self.namespace,
                self.name,
                delay,
                failed,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
            self._wake.set()

    def _refuse(self, err: ApiError) -> None:
        if not self._refused:
            self._refused = True
            log.warning(
                "the helm helper's suspects are kept in memory only: ConfigMap %s/%s: %s",
                self.namespace,
                self.name,
                err,
            )

    async def _write(self, suspicion: Suspicion) -> None:
        """Merge what the ConfigMap holds into `suspicion` when another writer changed it
        since this one's last write (a leader before, a process of the same lease), then
        apply it with the resourceVersion read: a write in between is refused (409) and
        retried, so neither writer's suspects are lost."""
        try:
            found = await self.manager.client.get(self.path)
        except ApiError as err:
            if not err.not_found:
                raise
            found = {}
        text = (found.get("data") or {}).get(KEY)
        if isinstance(text, str) and text != self._written:
            suspicion.merge(text)
        document = _document(suspicion)
        if document is None or document == text:
            self._written = text if document is not None else self._written
            return
        metadata: dict[str, object] = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": {"app.kubernetes.io/managed-by": "kidp-gitops"},
        }
        if version := (found.get("metadata") or {}).get("resourceVersion"):
            metadata["resourceVersion"] = version
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata,
            "data": {KEY: document},
        }
        await self.manager.put(body, self.path)
        self._written = document


def _document(suspicion: Suspicion) -> str | None:
    """`suspicion.document()`; None (logged) should it fail: the writer must go on."""
    try:
        return suspicion.document()
    except Exception:
        log.exception("the helm helper's suspects could not be written out")
        return None

"""Extracted artifacts, shared by every consumer of the same digest.

A hundred Kustomizations reading one repository used to unpack its artifact a hundred
times (the benchmark's mean-time-to-production grew with N²). Here an artifact is
unpacked once per digest, read-only by convention (builds copy what they change), and
kept while in use; the least recently used unused trees go when more than `keep` exist.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from kidp_gitops.proc import background
from kidp_gitops.storage.artifacts import ArtifactStore
from kidp_gitops.storage.fetch import HTTP, fetch


class ArtifactTrees:
    def __init__(self, root: Path, store: ArtifactStore | None, http: HTTP, keep: int = 8):
        """Trees under `root`, read from `store` when it holds the artifact, else
        downloaded through `http` (the engine's outbound HTTP)."""
        self.root = root
        self.store = store
        self.http = http
        self.keep = keep
        self._trees: OrderedDict[str, Path] = OrderedDict()
        self._users: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def tree(self, artifact: dict[str, Any]) -> AsyncIterator[Path]:
        """The extracted files of `artifact` for the duration of the block."""
        digest = str(artifact.get("digest", "")).replace(":", "-")
        self._users[digest] = self._users.get(digest, 0) + 1
        try:
            async with self._locks.setdefault(digest, asyncio.Lock()):
                path = self._trees.get(digest)
                if path is None:
                    path = self.root / digest
                    await _remove(path)  # a partial one from a crash
                    try:
                        await fetch(artifact, path, self.store, self.http)
                    except BaseException:
                        await _remove(path)
                        raise
                    self._trees[digest] = path
                self._trees.move_to_end(digest)
            yield path
        finally:
            self._users[digest] -= 1
            await self._evict()

    async def _evict(self) -> None:
        for digest in list(self._trees):
            if len(self._trees) <= self.keep:
                return
            if self._users.get(digest, 0) == 0:
                path = self._trees.pop(digest)
                self._users.pop(digest, None)
                self._locks.pop(digest, None)
                # Out of the way at once (one rename), so a reconcile that asks for this
                # digest again meanwhile extracts it anew instead of into the deletion.
                doomed = path.with_name(f"{path.name}.evicted-{next(_EVICTED)}")
                try:
                    path.rename(doomed)
                except OSError:
                    continue
                background.discard(doomed)


_EVICTED = itertools.count()


async def _remove(path: Path) -> None:
    """Delete an extracted tree, off the shared event loop."""
    await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)

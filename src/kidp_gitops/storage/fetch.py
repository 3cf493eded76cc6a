"""Getting an artifact's files as a consumer: from the local store when the source
controller runs in the same process, otherwise over HTTP from `artifact.url`. Either
way the digest is checked before anything is unpacked.

The download goes through the HTTP the caller passes: the engine's one owner of
outbound sessions (`runtime/outbound.Outbound`, which `storage` may not import, being
below `runtime`), so its pool, timeouts and proxy rules apply here too.
"""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from kidp_gitops.storage import untar
from kidp_gitops.storage.artifacts import ArtifactStore


class ArtifactUnavailable(Exception):
    """The artifact could not be read, or its content does not match its digest."""


class HTTP(Protocol):
    """What downloads an artifact: `runtime.outbound.Outbound` in the engine."""

    def request(
        self, method: str, url: str, *, timeout: float | None = None
    ) -> AbstractAsyncContextManager[aiohttp.ClientResponse]: ...


async def fetch(
    artifact: dict[str, Any],
    dest: Path,
    store: ArtifactStore | None,
    http: HTTP,
    timeout: float = 60.0,
) -> None:
    """Unpack `artifact` into `dest`: read from `store` when it holds it, else downloaded
    through `http` within `timeout` seconds."""
    # Reading, hashing and unpacking are disk and CPU work: off the shared event loop, in
    # one trip to a worker thread when the artifact is in the local store.
    if await asyncio.to_thread(_unpack_local, artifact, store, dest):
        return
    data = await _download(http, str(artifact.get("url", "")), timeout)
    await asyncio.to_thread(_unpack, artifact, data, dest)


def _unpack_local(artifact: dict[str, Any], store: ArtifactStore | None, dest: Path) -> bool:
    data = _local(artifact, store)
    if data is None:
        return False
    _unpack(artifact, data, dest)
    return True


def _unpack(artifact: dict[str, Any], data: bytes, dest: Path) -> None:
    digest = str(artifact.get("digest", ""))
    algorithm, _, expected = digest.partition(":")
    if algorithm != "sha256" or hashlib.sha256(data).hexdigest() != expected:
        raise ArtifactUnavailable(
            f"artifact {artifact.get('revision')} does not match its digest {digest}"
        )
    try:
        untar.extract(data, dest)
    except untar.UnsafeArchive as err:
        raise ArtifactUnavailable(
            f"artifact {artifact.get('revision')} is refused: {err}"
        ) from None


def _local(artifact: dict[str, Any], store: ArtifactStore | None) -> bytes | None:
    if store is None:
        return None
    path = store.local_path(str(artifact.get("path", "")))
    return path.read_bytes() if path is not None else None


async def _download(http: HTTP, url: str, timeout: float) -> bytes:
    if not url:
        raise ArtifactUnavailable("the artifact has no URL")
    try:
        async with http.request("GET", url, timeout=timeout) as resp:
            if resp.status != 200:
                raise ArtifactUnavailable(f"GET {url}: HTTP {resp.status}")
            return await resp.read()
    except (aiohttp.ClientError, TimeoutError, OSError) as err:
        raise ArtifactUnavailable(f"GET {url}: {err or type(err).__name__}") from err

"""A consumer's artifact: from the local store, or downloaded through the HTTP its caller
passes (the engine's outbound HTTP), its digest checked before anything is unpacked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from kidp_gitops.runtime import outbound
from kidp_gitops.source.ignore import IgnoreRules
from kidp_gitops.storage.artifacts import ArtifactStore
from kidp_gitops.storage.fetch import ArtifactUnavailable, fetch
from kidp_gitops.storage.trees import ArtifactTrees


class Recorded:
    """The engine's outbound HTTP, with the URLs it was asked for."""

    def __init__(self) -> None:
        self.http = outbound.Outbound()
        self.urls: list[str] = []

    def request(
        self, method: str, url: str, *, timeout: float | None = None
    ) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        self.urls.append(url)
        return self.http.request(method, url, timeout=timeout)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[ArtifactStore, dict[str, Any]]]:
    """A store serving one artifact over HTTP on loopback, and that artifact's status."""
    store = ArtifactStore(tmp_path / "store", "http://unset")
    runner = web.AppRunner(store.http_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    store.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    files = tmp_path / "files"
    (files / "apps").mkdir(parents=True)
    (files / "apps/a.yaml").write_text("kind: A\n")
    art = store.archive(
        "GitRepository",
        "ns",
        "r",
        files,
        list(IgnoreRules(files, None).files(files)),
        "main@sha1:1",
    )
    try:
        yield (
            store,
            {"path": art.path, "url": art.url, "digest": art.digest, "revision": art.revision},
        )
    finally:
        await runner.cleanup()


async def test_downloaded_through_the_http_it_is_given(
    served: tuple[ArtifactStore, dict[str, Any]], tmp_path: Path
) -> None:
    _, artifact = served
    http = Recorded()
    try:
        await fetch(artifact, tmp_path / "out", None, http)
    finally:
        await http.http.close()
    assert (tmp_path / "out/apps/a.yaml").read_text() == "kind: A\n"
    assert http.urls == [artifact["url"]]


async def test_read_from_the_store_when_it_holds_the_artifact(
    served: tuple[ArtifactStore, dict[str, Any]], tmp_path: Path
) -> None:
    store, artifact = served
    http = Recorded()
    async with ArtifactTrees(tmp_path / "trees", store, http).tree(artifact) as root:
        assert (root / "apps/a.yaml").read_text() == "kind: A\n"
    assert http.urls == []


async def test_a_digest_that_does_not_match_unpacks_nothing(
    served: tuple[ArtifactStore, dict[str, Any]], tmp_path: Path
) -> None:
    _, artifact = served
    http = Recorded()
    tampered = {**artifact, "digest": "sha256:" + "0" * 64}
    try:
        with pytest.raises(ArtifactUnavailable, match="does not match its digest"):
            await fetch(tampered, tmp_path / "out", None, http)
        missing = {**artifact, "url": artifact["url"] + ".gone"}
        with pytest.raises(ArtifactUnavailable, match="HTTP 404"):
            await fetch(missing, tmp_path / "out", None, http)
    finally:
        await http.http.close()
    assert not (tmp_path / "out").exists()

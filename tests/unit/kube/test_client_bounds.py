"""A client with `max_body` (a remote cluster's: its API server is a tenant's word) reads
no more than that of a response, success or error; without it, any size. Against a real
HTTP server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.config import ClusterConfig
from kidp_gitops.kube.errors import ConnectionFailed

BIG = 1 << 20


async def _no_auth() -> str | None:
    return None


@pytest.fixture
async def base() -> AsyncIterator[str]:
    async def big(request: web.Request) -> web.Response:
        status = 500 if request.path == "/error" else 200
        body = b'{"v": "' + b"x" * BIG + b'"}'
        return web.Response(body=body, status=status, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", big)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_a_bounded_client_stops_reading_past_its_bound(base: str) -> None:
    config = ClusterConfig(base, False, _no_auth)
    async with KubeClient(config, max_body=BIG // 2) as bounded:
        with pytest.raises(ConnectionFailed, match=f"larger than {BIG // 2} bytes"):
            await bounded.get("/version")
        with pytest.raises(ConnectionFailed, match="larger than"):
            await bounded.impersonate("someone").get("/error")
    async with KubeClient(config) as unbounded:
        assert len((await unbounded.get("/version"))["v"]) == BIG

"""One budget for all of a reconcile's registry requests: a registry that answers every
request in time but never stops sending pages is cut at the deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from kidp_gitops.oci.client import Client
from kidp_gitops.oci.deadline import Deadline, DeadlineExceeded
from kidp_gitops.oci.reference import Repository
from kidp_gitops.runtime import outbound


@pytest.fixture
async def slow_endless() -> AsyncIterator[str]:
    """Tag pages, each well within a request timeout, each linking to the next."""

    async def tags(request: web.Request) -> web.Response:
        page = int(request.query.get("page", "0"))
        await asyncio.sleep(0.05)
        link = f'</v2/r/tags/list?page={page + 1}>; rel="next"'
        return web.json_response({"tags": [f"p{page}"]}, headers={"Link": link})

    app = web.Application()
    app.router.add_get("/v2/r/tags/list", tags)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_a_registry_that_never_finishes_is_cut_at_the_deadline(slow_endless: str) -> None:
    http = outbound.Outbound()
    try:
        client = Client(Repository(slow_endless, "r"), insecure=True, timeout=10, http=http)
        deadline = Deadline(0.5, "spec.timeout")
        with pytest.raises(DeadlineExceeded, match=r"within spec.timeout \(0.5s\)"):
            async with deadline.covering():
                await client.tags()
        # Spent: a later stretch of the same reconcile fails at once.
        with pytest.raises(DeadlineExceeded):
            async with deadline.covering():
                await asyncio.sleep(10)
    finally:
        await http.close()


async def test_a_timeout_that_is_not_the_deadline_passes_through() -> None:
    with pytest.raises(TimeoutError):
        async with Deadline(60, "spec.timeout").covering(), asyncio.timeout(0.01):
            await asyncio.sleep(10)

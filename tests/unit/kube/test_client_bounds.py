"""A client with `max_body` (a remote cluster's: its API server is a tenant's word) reads
no more than that of a response, success or error; without it, any size. Against a real
HTTP server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import orjson
import pytest
from aiohttp import web

from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.config import ClusterConfig
from kidp_gitops.kube.errors import ApiError, ConnectionFailed
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource

BIG = 1 << 20


async def _no_auth() -> str | None:
    return None


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[ClusterConfig]:
    """`app` served on a free loopback port, as a cluster without credentials."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield ClusterConfig(f"http://127.0.0.1:{runner.addresses[0][1]}", False, _no_auth)
    finally:
        await runner.cleanup()


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


async def test_an_endless_watch_event_is_a_broken_stream() -> None:
    """A server that streams one event line without end: the watch ends as a broken
    stream (the informer lists again), not with an error that would end the informer."""

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        await resp.write(b'{"type": "ADDED", "object": {"v": "')
        for _ in range(64):
            await resp.write(b"x" * BIG)
        return resp

    app = web.Application()
    app.router.add_get("/{tail:.*}", endless)
    async with serving(app) as config, KubeClient(config) as client:
        with pytest.raises(ConnectionFailed, match="watch /api/v1/configmaps"):
            async for _ in client.stream("/api/v1/configmaps", {"watch": "1"}, 10):
                pass


@pytest.mark.parametrize(
    ("body", "says"),
    [(b"not json", "is not JSON"), (b"[1, 2]", "not a JSON object")],
)
async def test_a_bounded_clients_broken_answer_is_a_connection_failure(
    body: bytes, says: str
) -> None:
    """A remote server's answer that is not a JSON object (or a watch line that is not
    one) is a broken answer: the informer lists again, a reconcile says the remote is
    unreachable, instead of an exception nobody expects."""

    async def broken(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch"):
            resp = web.StreamResponse()
            resp.content_type = "application/json"
            await resp.prepare(request)
            await resp.write(body + b"\n")
            return resp
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", broken)
    async with serving(app) as config, KubeClient(config, max_body=BIG) as client:
        with pytest.raises(ConnectionFailed, match=says):
            await client.get("/version")
        with pytest.raises(ConnectionFailed, match="watch /api/v1/configmaps"):
            async for _ in client.stream("/api/v1/configmaps", {"watch": "1"}, 10):
                pass


async def test_a_bounded_client_stops_a_listing_that_pages_without_end() -> None:
    pages = 0

    async def endless(request: web.Request) -> web.Response:
        nonlocal pages
        pages += 1
        body = {"items": [{}] * 10, "metadata": {"continue": f"t{pages}"}}
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/{tail:.*}", endless)
    async with serving(app) as config:
        async with KubeClient(config, max_body=BIG, max_items=50) as bounded:
            with pytest.raises(ConnectionFailed, match="more than 50 items"):
                await bounded.list("/api/v1/secrets")
        assert pages == 6


async def test_a_bounded_informer_holds_no_more_than_its_bound() -> None:
    """A server that lists nothing, then announces new objects without end: the watch
    breaks at the bound (the informer watches again after a pause) and its store never
    holds more; an unbounded client's informer takes them all."""
    announced = watches = 0
    looked = asyncio.Event()  # set on every watch request and every object stored

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal announced, watches
        if not request.query.get("watch"):
            return web.json_response({"items": [], "metadata": {"resourceVersion": "1"}})
        watches += 1
        looked.set()
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        for _ in range(200):
            announced += 1
            meta = {"name": f"cm-{announced}", "namespace": "a", "resourceVersion": "2"}
            line = {"type": "ADDED", "object": {"metadata": meta}}
            await resp.write(orjson.dumps(line) + b"\n")
        return resp

    app = web.Application()
    app.router.add_get("/{tail:.*}", endless)
    configmaps = Resource("", "v1", "ConfigMap", "configmaps", True)

    async def follow(client: KubeClient, enough: Callable[[Informer], bool]) -> int:
        """The most objects the informer held until `enough` said so."""
        informer = Informer(client, configmaps)
        peak = 0

        def seen(event: str, obj: object) -> None:
            nonlocal peak
            peak = max(peak, len(informer))
            looked.set()

        informer.add_handler(seen)
        informer.start()
        try:
            async with asyncio.timeout(30):
                while not enough(informer):
                    looked.clear()
                    await looked.wait()
        finally:
            await informer.stop()
        return peak

    async with serving(app) as config:
        async with KubeClient(config, max_body=BIG, max_items=50) as bounded:
            # Watched twice more after the first broken watch: the bound held throughout.
            assert await follow(bounded, lambda _: watches >= 3) == 50
        async with KubeClient(config) as unbounded:
            assert await follow(unbounded, lambda informer: len(informer) >= 200) >= 200


@pytest.mark.parametrize(
    "name",
    [
        "../../kube-system/secrets/x",
        "..",
        "%2e%2e",
        "a%2Fb",
        "x?labelSelector=a",
        "x#y",
        "%252e%252e",
    ],
)
async def test_a_name_never_leaves_its_path(name: str) -> None:
    """A name a tenant wrote (valuesFrom, substituteFrom, a ConfigMap's
    serviceAccountName) that would make the URL another object's is refused before it
    is sent: the server, which answers every path, is never asked."""
    asked: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        asked.append(request.raw_path)
        return web.json_response({"kind": "Secret", "data": {}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    async with serving(app) as config:
        async with KubeClient(config) as client:
            with pytest.raises(ApiError, match="BadRequest"):
                await client.get(f"/api/v1/namespaces/tenant/secrets/{name}")
            with pytest.raises(ApiError, match="BadRequest"):
                await client.create(f"/api/v1/namespaces/t/serviceaccounts/{name}/token", {})
            # A name as the API server knows names (RBAC's colons, quoted) goes through.
            await client.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Aview")
        assert asked == ["/apis/rbac.authorization.k8s.io/v1/clusterroles/system:view"]

"""The registry client against a loopback server that misbehaves on purpose: pages, digests
that do not match, blobs over the limit, a Basic challenge refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from kidp_gitops.oci import client as client_module
from kidp_gitops.oci.client import OCI_MANIFEST, Client
from kidp_gitops.oci.errors import AuthError, NotFound, OCIError
from kidp_gitops.oci.reference import Repository
from kidp_gitops.runtime import outbound
from kidp_gitops.runtime.registryauth import Credentials

TAGS = [f"v{i}" for i in range(7)]
BLOB = b"layer bytes" * 100
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
LYING_DIGEST = "sha256:" + "0" * 64
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _app(*, link_pages: bool, password: str | None) -> web.Application:
    async def tags(request: web.Request) -> web.Response:
        n = int(request.query.get("n", "100"))
        last = request.query.get("last")
        start = TAGS.index(last) + 1 if last else int(request.query.get("start", "0"))
        page = TAGS[start : start + n]
        headers = {}
        if link_pages and start + n < len(TAGS):
            headers["Link"] = f'</v2/r/tags/list?n={n}&start={start + n}>; rel="next"'
        return web.json_response({"name": "r", "tags": page}, headers=headers)

    async def manifest(request: web.Request) -> web.Response:
        ref = request.match_info["ref"]
        body = MANIFEST if ref in ("v1", MANIFEST_DIGEST) else b'{"tampered": true}'
        headers = {"Docker-Content-Digest": MANIFEST_DIGEST, "Content-Type": OCI_MANIFEST}
        return web.Response(body=body, headers=headers)

    async def blob(request: web.Request) -> web.Response:
        digest = request.match_info["digest"]
        if digest == BLOB_DIGEST:
            return web.Response(body=BLOB)
        if digest == LYING_DIGEST:
            return web.Response(body=b"something else")
        return web.Response(status=404)

    @web.middleware
    async def basic(request: web.Request, handler: Handler) -> web.StreamResponse:
        if password is not None:
            good = "Basic " + base64.b64encode(f"robot:{password}".encode()).decode()
            if request.headers.get("Authorization") != good:
                return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        return await handler(request)

    app = web.Application(middlewares=[basic])
    app.router.add_get("/v2/r/tags/list", tags)
    app.router.add_get("/v2/r/manifests/{ref}", manifest)
    app.router.add_get("/v2/r/blobs/{digest}", blob)
    return app


async def _serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[outbound.Outbound]:
    owner = outbound.Outbound()
    yield owner
    await owner.close()


@pytest.fixture(params=[True, False], ids=["link-header", "last-parameter"])
async def host(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    async for where in _serve(_app(link_pages=request.param, password=None)):
        yield where


@pytest.fixture
async def locked() -> AsyncIterator[str]:
    async for where in _serve(_app(link_pages=True, password="s3cret-pw")):
        yield where


def _client(host: str, http: outbound.Outbound, creds: Credentials | None = None) -> Client:
    return Client(Repository(host, "r"), creds, insecure=True, timeout=10, http=http)


async def test_every_page_of_tags_is_read(host: str, http: outbound.Outbound) -> None:
    assert await _client(host, http).tags(page_size=3) == TAGS


async def test_a_manifest_read_by_digest_must_hash_to_it(
    host: str, http: outbound.Outbound
) -> None:
    client = _client(host, http)
    assert await client.resolve("v1") == MANIFEST_DIGEST
    assert (await client.manifest(MANIFEST_DIGEST)).digest == MANIFEST_DIGEST
    with pytest.raises(OCIError, match="does not match"):
        await client.manifest(LYING_DIGEST)


async def test_a_blob_is_streamed_verified_and_bounded(
    host: str, http: outbound.Outbound, tmp_path: Path
) -> None:
    client = _client(host, http)
    target = tmp_path / "blob"
    assert await client.blob_to_file(BLOB_DIGEST, target, limit=len(BLOB)) == len(BLOB)
    assert target.read_bytes() == BLOB

    with pytest.raises(OCIError, match="limit"):
        await client.blob_to_file(BLOB_DIGEST, tmp_path / "big", limit=len(BLOB) - 1)
    with pytest.raises(OCIError, match="does not match"):
        await client.blob_to_file(LYING_DIGEST, tmp_path / "lie", limit=1 << 20)
    with pytest.raises(NotFound):
        await client.blob_to_file("sha256:" + "1" * 64, tmp_path / "gone", limit=1 << 20)
    left = await asyncio.to_thread(lambda: sorted(p.name for p in tmp_path.iterdir()))
    assert left == ["blob"]  # no partial file left


async def test_basic_credentials_answer_the_challenge(locked: str, http: outbound.Outbound) -> None:
    client = _client(locked, http, Credentials("robot", "s3cret-pw"))
    assert await client.tags() == TAGS


async def test_a_refused_password_is_never_in_the_message(
    locked: str, http: outbound.Outbound
) -> None:
    client = _client(locked, http, Credentials("robot", "wrong-pw"))
    with pytest.raises(AuthError) as err:
        await client.tags()
    assert locked in str(err.value)
    assert "robot" in str(err.value)
    assert "wrong-pw" not in str(err.value)
    with pytest.raises(AuthError, match="without credentials"):
        await _client(locked, http).tags()


def _endless(tags_of_page: Callable[[int], list[str]], pad: int = 0) -> web.Application:
    """A registry whose tag list never ends: every page links to the next, new tags each."""

    async def tags(request: web.Request) -> web.Response:
        page = int(request.query.get("page", "0"))
        link = f'</v2/r/tags/list?page={page + 1}>; rel="next"'
        body = {"name": "r", "tags": tags_of_page(page), "padding": "x" * pad}
        return web.json_response(body, headers={"Link": link})

    app = web.Application()
    app.router.add_get("/v2/r/tags/list", tags)
    return app


async def test_an_endless_tag_list_is_cut_by_count(
    http: outbound.Outbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_TAGS", 250)
    async for where in _serve(_endless(lambda page: [f"p{page}-{i}" for i in range(100)])):
        with pytest.raises(OCIError, match="over the limit of 250 tags"):
            await _client(where, http).tags(page_size=100)


async def test_an_endless_tag_list_is_cut_by_bytes(
    http: outbound.Outbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_TAG_BYTES", 64 << 10)
    async for where in _serve(_endless(lambda page: [f"p{page}"], pad=10_000)):
        with pytest.raises(OCIError, match=f"over the limit of {64 << 10} bytes"):
            await _client(where, http).tags()


async def test_what_is_not_a_tag_is_dropped(http: outbound.Outbound) -> None:
    listed = ["v1", "../../blobs/x", "a" * 129, "v2\n", ".hidden", "v1", 7, "v3"]

    async def tags(request: web.Request) -> web.Response:
        return web.json_response({"name": "r", "tags": listed})

    app = web.Application()
    app.router.add_get("/v2/r/tags/list", tags)
    async for where in _serve(app):
        assert await _client(where, http).tags() == ["v1", "v3"]


async def test_a_link_to_another_host_is_not_followed(http: outbound.Outbound) -> None:
    async def tags(request: web.Request) -> web.Response:
        link = '<http://attacker.invalid/v2/r/tags/list?n=1>; rel="next"'
        return web.json_response({"name": "r", "tags": ["v1"]}, headers={"Link": link})

    app = web.Application()
    app.router.add_get("/v2/r/tags/list", tags)
    async for where in _serve(app):
        with pytest.raises(OCIError, match=r"another host \(attacker.invalid\)"):
            await _client(where, http, Credentials("robot", "pw")).tags()


async def test_an_upload_location_on_another_host_is_refused(http: outbound.Outbound) -> None:
    async def head(request: web.Request) -> web.Response:
        return web.Response(status=404)

    async def start(request: web.Request) -> web.Response:
        return web.Response(status=202, headers={"Location": "https://attacker.invalid/up"})

    app = web.Application()
    app.router.add_route("HEAD", "/v2/r/blobs/{digest}", head)
    app.router.add_post("/v2/r/blobs/uploads/", start)
    async for where in _serve(app):
        with pytest.raises(OCIError, match=r"another host \(attacker.invalid\)"):
            await _client(where, http, Credentials("robot", "pw")).push_blob(b"data")


async def test_a_large_manifest_is_hashed_and_parsed_off_the_event_loop(
    http: outbound.Outbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = json.dumps(
        {"schemaVersion": 2, "layers": [], "annotations": {"pad": "x" * (1 << 20)}}
    ).encode()
    loop_threads: list[bool] = []
    parse = client_module._json

    def watched(data: bytes, what: str) -> dict[str, object]:
        loop_threads.append(threading.current_thread() is threading.main_thread())
        return parse(data, what)

    monkeypatch.setattr(client_module, "_json", watched)

    async def manifest(request: web.Request) -> web.Response:
        return web.Response(body=big, headers={"Content-Type": OCI_MANIFEST})

    app = web.Application()
    app.router.add_get("/v2/r/manifests/{ref}", manifest)
    async for where in _serve(app):
        got = await _client(where, http).manifest("v1")
    assert got.digest == "sha256:" + hashlib.sha256(big).hexdigest()
    assert loop_threads == [False]

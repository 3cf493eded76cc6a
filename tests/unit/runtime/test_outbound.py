"""The owner of outbound HTTP against real loopback servers: one pooled session, TLS per
request, proxies as Go's ProxyFromEnvironment, closed by its owner, installed per task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from kidp_gitops.runtime import credentials, outbound
from tests.gitserver.keys import Certificate, self_signed_certificate, server_tls


async def _serve(app: web.Application, tls: Certificate | None = None) -> tuple[web.AppRunner, str]:
    context = server_tls(tls) if tls is not None else None
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"{'https' if tls else 'http'}://127.0.0.1:{port}"


@pytest.fixture
async def tls_server() -> AsyncIterator[tuple[str, Certificate]]:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    cert = self_signed_certificate()
    runner, url = await _serve(app, cert)
    yield url, cert
    await runner.cleanup()


async def test_tls_per_request_over_one_pooled_session(
    tls_server: tuple[str, Certificate],
) -> None:
    url, cert = tls_server
    http = outbound.Outbound()
    trust = credentials.from_secret({"ca.crt": cert.cert}, "ns/ca", system_roots=False)
    async with http.request("GET", url, tls=trust, timeout=10) as resp:
        assert await resp.text() == "hello"
    session = http.session()
    with pytest.raises(aiohttp.ClientSSLError):
        async with http.request("GET", url, timeout=10):
            pass  # the system's roots do not know this certificate
    assert http.session() is session
    await http.close()
    assert session.closed
    async with http.request("GET", url, tls=trust, timeout=10) as resp:
        assert resp.status == 200  # a request after close opens a new session
    assert http.session() is not session
    await http.close()


async def test_the_environment_proxy_is_used_except_for_no_proxy_and_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(str(request.url))
        return web.Response(text="via proxy")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy)
    runner, proxy_url = await _serve(app)
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.setenv("NO_PROXY", "internal.example,.corp")
        http = outbound.Outbound()
        async with http.request("GET", "http://charts.example.invalid/index.yaml") as resp:
            assert await resp.text() == "via proxy"
        assert seen == ["http://charts.example.invalid/index.yaml"]
        await http.close()
    finally:
        await runner.cleanup()
    assert outbound.proxy_for("http://charts.example.invalid/") == proxy_url
    assert outbound.proxy_for("http://internal.example/") is None
    assert outbound.proxy_for("http://a.b.corp/") is None
    assert outbound.proxy_for("http://127.0.0.1:8080/") is None
    assert outbound.proxy_for("http://localhost/") is None
    assert outbound.proxy_for("https://charts.example.invalid/") is None  # no HTTPS_PROXY


@pytest.mark.parametrize(
    ("no_proxy", "url", "bypassed"),
    [
        ("*", "https://x.io/", True),
        ("x.io", "https://x.io/", True),
        ("x.io", "https://a.x.io/", True),
        ("x.io", "https://ax.io/", False),
        (".x.io", "https://x.io/", True),
        ("x.io:8443", "https://x.io/", False),
        ("x.io:8443", "https://x.io:8443/", True),
        ("x.io:443", "https://x.io/", True),
        ("10.0.0.0/8", "https://10.1.2.3/", True),
        ("10.0.0.0/8", "https://11.1.2.3/", False),
        ("10.1.2.3", "https://10.1.2.3/", True),
        ("[fd00::1]:443", "https://[fd00::1]/", True),
        ("fd00::1", "https://[fd00::1]/", True),
        ("", "https://x.io/", False),
    ],
)
def test_no_proxy_rules(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, url: str, bypassed: bool
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    assert (outbound.proxy_for(url) is None) == bypassed


async def test_an_installed_owner_is_current_in_the_tasks_started_after() -> None:
    mine = outbound.Outbound()

    async def engine() -> tuple[outbound.Outbound, outbound.Outbound]:
        token = outbound.install(mine)
        try:
            return outbound.current(), await asyncio.create_task(_current())
        finally:
            outbound.uninstall(token)

    assert await asyncio.create_task(engine()) == (mine, mine)
    assert outbound.current() is not mine
    assert outbound.current() is outbound.current()


async def _current() -> outbound.Outbound:
    return outbound.current()


async def test_read_stops_at_the_limit_with_or_without_a_length() -> None:
    async def sized(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 100)

    async def streamed(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()  # no Content-Length: only reading tells
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"x" * 10)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/sized", sized)
    app.router.add_get("/streamed", streamed)
    runner, url = await _serve(app)
    http = outbound.Outbound()
    try:
        for path in ("/sized", "/streamed"):
            async with http.request("GET", url + path, timeout=10) as resp:
                assert resp.content_length == (100 if path == "/sized" else None)
                with pytest.raises(outbound.TooLarge, match="larger than 99 bytes"):
                    await outbound.read(resp, 99)
            async with http.request("GET", url + path, timeout=10) as resp:
                assert await outbound.read(resp, 100) == b"x" * 100
    finally:
        await http.close()
        await runner.cleanup()

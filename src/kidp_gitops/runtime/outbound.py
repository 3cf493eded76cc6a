"""The one owner of the engine's outbound HTTP: the session every controller's client
shares (Helm repository indexes and charts, image registries, notification providers).

Where it fits: the Kubernetes client (`kube/client.py`) has its own session, and the
servers (artifacts, receiver, dashboard) are servers; every other request the engine
sends goes through `Outbound.request`, so timeouts, connection limits, TLS and proxy
rules are set here once.

    http = outbound.current()                  # the engine's, or the process's default
    async with http.request("GET", url, tls=context, timeout=60) as resp: ...

- One pooled session per owner, created on first use on the running loop. A request's
  TLS context (`runtime/credentials.py`) is per request; aiohttp keys its pooled
  connections by it, so two repositories with different CAs never share a connection.
- Proxies as Flux's controllers (Go's `ProxyFromEnvironment`): an explicit proxy (a
  Provider's `proxy`) wins; otherwise HTTPS_PROXY or HTTP_PROXY by the URL's scheme,
  except for hosts NO_PROXY names and for localhost and loopback addresses. aiohttp's
  own `trust_env` is not used: it would also read `~/.netrc` credentials.
- The engine makes an `Outbound`, installs it for the tasks it starts (`install`) and
  closes it when it stops; a process without an engine (a test, a CLI command) gets a
  default one from `current()`.
- What a repository, a registry or a token service sends is hostile: `read` takes a
  body only up to its reader's limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ipaddress
import ssl
import urllib.request
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp

LIMIT = 100
"""Open connections per owner, all hosts together (aiohttp's and Go's default)."""
LIMIT_PER_HOST = 20
"""Open connections to one host: a burst of chart pulls from one repository waits for a
free connection instead of opening a hundred."""
CONNECT_TIMEOUT = 30.0
"""Seconds to establish a connection (TCP and TLS), as Go's default dialer."""
DEFAULT_TIMEOUT = 300.0
"""Seconds for a whole request whose caller names no timeout."""


class Outbound:
    """Creates the shared session on first use and closes it in `close`."""

    def __init__(
        self,
        *,
        limit: int = LIMIT,
        limit_per_host: int = LIMIT_PER_HOST,
        connect_timeout: float = CONNECT_TIMEOUT,
    ):
        self.limit = limit
        self.limit_per_host = limit_per_host
        self.connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def session(self) -> aiohttp.ClientSession:
        """The pooled session of the running loop (made now if there is none)."""
        loop = asyncio.get_running_loop()
        if self._session is not None and not self._session.closed and self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                raise RuntimeError("an Outbound serves one event loop at a time")
            self._session.detach()  # its loop is gone, and its connections with it
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.limit, limit_per_host=self.limit_per_host)
            timeout = aiohttp.ClientTimeout(
                total=DEFAULT_TIMEOUT, sock_connect=self.connect_timeout
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
            self._loop = loop
        return self._session

    @contextlib.asynccontextmanager
    async def request(
        self,
        method: str,
        url: str,
        *,
        tls: ssl.SSLContext | None = None,
        timeout: float | None = None,
        proxy: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One request: `tls` verifies the server and presents a client certificate
        (None: the system's roots); `timeout` bounds the whole request, body included;
        `proxy` overrides the environment's proxy rules. Other arguments go to aiohttp
        (headers, data, params)."""
        limits = aiohttp.ClientTimeout(
            total=timeout if timeout is not None else DEFAULT_TIMEOUT,
            sock_connect=self.connect_timeout,
        )
        async with self.session().request(
            method,
            url,
            ssl=tls if tls is not None else True,
            timeout=limits,
            proxy=proxy or proxy_for(url),
            **kwargs,
        ) as response:
            yield response

    async def close(self) -> None:
        """Close the session and its connections; a later request opens a new one."""
        session, self._session, self._loop = self._session, None, None
        if session is not None and not session.closed:
            await session.close()


class TooLarge(Exception):
    """A response body is larger than its reader's limit (nothing more is read)."""

    def __init__(self, limit: int):
        super().__init__(f"the response is larger than {limit} bytes")
        self.limit = limit


async def read(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body of `response`, at most `limit` bytes: `TooLarge` as soon as its
    Content-Length or what arrived says it is larger."""
    if response.content_length is not None and response.content_length > limit:
        raise TooLarge(limit)
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise TooLarge(limit)
    return bytes(body)


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url`, as Go's `ProxyFromEnvironment`."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    ip = _ip(host)
    if host == "localhost" or (ip is not None and ip.is_loopback):
        return None
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    if not proxy or _no_proxy(host, port, proxies.get("no", "")):
        return None
    return proxy


def _no_proxy(host: str, port: int | None, entries: str) -> bool:
    """Whether NO_PROXY names `host`: `*`; an IP or a CIDR block; a domain, which
    matches itself and its subdomains (a leading dot is the same); each optionally
    with `:port`."""
    ip = _ip(host)
    for raw in entries.lower().split(","):
        entry = raw.strip()
        if entry == "*":
            return True
        if not entry:
            continue
        if "/" in entry:
            with contextlib.suppress(ValueError):
                if ip is not None and ip in ipaddress.ip_network(entry, strict=False):
                    return True
            continue
        if entry.startswith("["):  # [v6] or [v6]:port
            name, _, rest = entry[1:].partition("]")
            text = rest.removeprefix(":")
        elif entry.count(":") == 1:  # name:port or v4:port
            name, _, text = entry.partition(":")
        else:  # name, v4 or bare v6
            name, text = entry, ""
        name = name.lstrip(".")
        wanted = int(text) if text.isdigit() else None
        if wanted is not None and wanted != port:
            continue
        if ip is not None:
            if _ip(name) == ip:
                return True
        elif host == name or host.endswith("." + name):
            return True
    return False


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


_installed: contextvars.ContextVar[Outbound | None] = contextvars.ContextVar(
    "kidp_outbound", default=None
)
_default: Outbound | None = None


def install(owner: Outbound) -> contextvars.Token[Outbound | None]:
    """Make `owner` what `current()` returns in this task and the tasks it starts from
    now on (the engine, before it builds its controllers)."""
    return _installed.set(owner)


def uninstall(token: contextvars.Token[Outbound | None]) -> None:
    _installed.reset(token)


def current() -> Outbound:
    """The installed owner, or the process's default one."""
    global _default
    owner = _installed.get()
    if owner is not None:
        return owner
    if _default is None:
        _default = Outbound()
    return _default

"""The dashboard's HTTP face: one page, its script and style, and a JSON API.

    GET  /                                        the page (static/index.html)
    GET  /static/app.js, /static/app.css          its script and style, served from the package
    GET  /api/v1/objects                          every GitOps object (rows) and per-kind counts
    GET  /api/v1/objects/{kind}/{namespace}/{name}
                                                  conditions, spec summary, inventory tree, events
    GET  /api/v1/events[?kind=&namespace=&name=]  recent Events of GitOps objects, newest first
    GET  /api/v1/stream                           server-sent events (see `stream`)
    POST /api/v1/objects/{kind}/{namespace}/{name}/reconcile|suspend|resume

Reads come from the engine's informer cache (`reader`): no API request per page load.
Actions write through the engine's client and exist only when the engine runs with
`--dashboard-actions`; otherwise they answer 403. There is no login yet, so actions also
demand a header a browser sends only from our own script (`X-Requested-By`) and, when
the browser names an Origin, that it is this server: another site open in the same
browser cannot trigger them. On a loopback address, requests must also name a loopback
host (`Host: localhost:9080`): a site that points its own name at 127.0.0.1 (DNS
rebinding) cannot read the API from a browser either.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import orjson
from aiohttp import web

from kidp_gitops import __version__
from kidp_gitops.dashboard import view
from kidp_gitops.dashboard.reader import CacheReader
from kidp_gitops.dashboard.stream import Broker, Message
from kidp_gitops.kube import ApiError, KubeClient
from kidp_gitops.runtime.cache import InformerCache
from kidp_gitops.views import actions, kinds

ACTIONS: Final = ("reconcile", "suspend", "resume")
ACTION_HEADER: Final = "X-Requested-By"
ACTION_HEADER_VALUE: Final = "kidp-dashboard"
KEEPALIVE_SECONDS: Final = 15.0
ATTACH_SECONDS: Final = 1.0

_STATIC: Final = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "app.css": "text/css",
}
_SECURITY_HEADERS: Final = {
    # Everything comes from this server; no inline script, no frames.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_KINDS_BY_NAME: Final = {k.lower(): k for k in view.KINDS}

_READER: web.AppKey[CacheReader] = web.AppKey("reader", CacheReader)
_BROKER: web.AppKey[Broker] = web.AppKey("broker", Broker)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


def static_file(name: str) -> bytes:
    return (resources.files("kidp_gitops.dashboard") / "static" / name).read_bytes()


class Dashboard:
    """The dashboard over one engine's cache (reads) and client (actions)."""

    def __init__(self, cache: InformerCache, client: KubeClient, *, actions: bool = False):
        self.reader = CacheReader(cache)
        self.broker = Broker(self.reader)
        self.client = client
        self.actions = actions
        self._closing = asyncio.Event()
        self._files = {name: static_file(name) for name in _STATIC}

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_loopback_hosts_only])
        app[_READER] = self.reader
        app[_BROKER] = self.broker
        r = app.router
        r.add_get("/", self._index)
        r.add_get("/static/{file}", self._static)
        r.add_get("/api/v1/info", self._info)
        r.add_get("/api/v1/objects", self._objects)
        r.add_get("/api/v1/objects/{kind}/{namespace}/{name}", self._object)
        r.add_post("/api/v1/objects/{kind}/{namespace}/{name}/{action}", self._action)
        r.add_get("/api/v1/events", self._events)
        r.add_get("/api/v1/stream", self._stream)
        app.cleanup_ctx.append(self._attach_loop)
        app.on_shutdown.append(self._on_shutdown)
        return app

    # ---- lifecycle -----------------------------------------------------------------

    async def _attach_loop(self, _: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                self.broker.attach()
                await asyncio.sleep(ATTACH_SECONDS)

        task = asyncio.create_task(loop(), name="dashboard attach")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _on_shutdown(self, _: web.Application) -> None:
        self._closing.set()  # ends open streams, so shutdown does not wait for them

    # ---- page ----------------------------------------------------------------------

    def _file(self, name: str) -> web.Response:
        return web.Response(
            body=self._files[name],
            content_type=_STATIC[name],
            charset="utf-8",
            headers={**_SECURITY_HEADERS, "Cache-Control": "no-cache"},
        )

    async def _index(self, _: web.Request) -> web.Response:
        return self._file("index.html")

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["file"]
        if name not in _STATIC or name == "index.html":
            raise web.HTTPNotFound()
        return self._file(name)

    # ---- reads ---------------------------------------------------------------------

    async def _info(self, _: web.Request) -> web.Response:
        return _json(
            {"version": __version__, "actions": self.actions, "synced": self.reader.synced}
        )

    async def _objects(self, _: web.Request) -> web.Response:
        rows = [view.row(o) for o in self.reader.objects()]
        return _json(
            {
                "items": rows,
                "overview": view.overview(rows),
                "kinds": list(view.KINDS),
                "actions": self.actions,
                "synced": self.reader.synced,
            }
        )

    async def _object(self, request: web.Request) -> web.Response:
        kind, namespace, name = self._target(request)
        obj = self.reader.get(kind, namespace, name)
        if obj is None:
            return _error(404, f"{kind} {namespace}/{name} not found")
        events = view.recent_events(
            self.reader.events(), kind=kind, namespace=namespace, name=name, limit=50
        )
        return _json(view.detail(obj, self.reader.live, events))

    async def _events(self, request: web.Request) -> web.Response:
        q = request.query
        kind = q.get("kind")
        if kind is not None:
            kind = _KINDS_BY_NAME.get(kind.lower(), kind)
        items = view.recent_events(
            self.reader.events(),
            kind=kind,
            namespace=q.get("namespace"),
            name=q.get("name"),
            limit=_limit(q.get("limit")),
        )
        return _json({"items": items})

    def _target(self, request: web.Request) -> tuple[str, str, str]:
        m = request.match_info
        kind = _KINDS_BY_NAME.get(m["kind"].lower())
        if kind is None:
            raise web.HTTPNotFound(
                text=orjson.dumps(
                    {"error": f"unknown kind {m['kind']!r}: one of {', '.join(view.KINDS)}"}
                ).decode(),
                content_type="application/json",
            )
        return kind, m["namespace"], m["name"]

    # ---- stream --------------------------------------------------------------------

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        self.broker.attach()
        sub = self.broker.subscribe()
        closing = asyncio.create_task(self._closing.wait())
        message: asyncio.Task[Message] | None = None
        try:
            await response.write(b"retry: 2000\n\nevent: hello\ndata: {}\n\n")
            while not self._closing.is_set():
                if message is None:
                    message = asyncio.create_task(sub.next())
                done, _ = await asyncio.wait(
                    {message, closing},
                    timeout=KEEPALIVE_SECONDS,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if message in done:
                    await response.write(b"data: " + orjson.dumps(message.result()) + b"\n\n")
                    message = None
                elif not done:
                    await response.write(b": keepalive\n\n")
        except ConnectionResetError:
            pass  # the page went away
        finally:
            for task in (closing, message):
                if task is not None:
                    task.cancel()
            self.broker.unsubscribe(sub)
        return response

    # ---- actions -------------------------------------------------------------------

    async def _action(self, request: web.Request) -> web.Response:
        kind, namespace, name = self._target(request)
        action = request.match_info["action"]
        if action not in ACTIONS:
            return _error(404, f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
        if not self.actions:
            return _error(
                403, "actions are disabled: start the engine with --dashboard-actions to allow them"
            )
        refused = _refuse_cross_site(request)
        if refused:
            return _error(403, refused)
        served = kinds.lookup(kind)
        try:
            if action == "suspend":
                await actions.set_suspended(self.client, served, namespace, name, True)
            elif action == "resume":
                await actions.resume(self.client, served, namespace, name)
            else:
                await actions.request_reconcile(self.client, served, namespace, name)
        except ApiError as err:
            status = err.status if err.status in (403, 404, 409, 422) else 502
            return _error(status, f"{action} {kind} {namespace}/{name}: {err.message}")
        return _json({"kind": kind, "namespace": namespace, "name": name, "action": action})


@dataclass(frozen=True)
class DashboardApp:
    """The dashboard as the engine serves it (an `engine.run.HttpApp`): whoever starts the
    engine passes one (`kidp controller run --dashboard-addr`, the tests' engines), and
    the engine builds it over its cache and client once they exist."""

    host: str = "127.0.0.1"
    port: int = 0
    """The CLI's default is 9080; 0 picks a free one (`Engine.ports["dashboard"]`)."""
    actions: bool = False
    """Whether the dashboard may reconcile, suspend and resume (it has no login yet)."""
    name: str = "dashboard"

    def build(self, cache: InformerCache, client: KubeClient) -> web.Application:
        return Dashboard(cache, client, actions=self.actions).app()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _loopback_hosts_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if sockname and _is_loopback(str(sockname[0])) and not _is_loopback(_hostname(request.host)):
        return _error(
            403,
            f"this dashboard listens on a loopback address; open it as "
            f"http://127.0.0.1:{sockname[1]}/ (host {request.host!r} refused)",
        )
    return await handler(request)


def _hostname(host: str) -> str:
    if host.startswith("["):  # [::1]:9080
        return host[1 : host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse_cross_site(request: web.Request) -> str:
    """Why an action request may come from another site, or '' when it is ours."""
    if request.headers.get(ACTION_HEADER) != ACTION_HEADER_VALUE:
        return f"actions need the header {ACTION_HEADER}: {ACTION_HEADER_VALUE}"
    origin = request.headers.get("Origin")
    if origin and origin != f"{request.scheme}://{request.host}":
        return f"actions are refused from another origin ({origin})"
    return ""


def _limit(value: str | None) -> int:
    try:
        return max(1, min(1000, int(value))) if value else 200
    except ValueError:
        return 200

"""An async client for any Kubernetes resource, addressed by its API path.

Responses are decoded with orjson into plain dicts: controllers read fields directly and
never pay for generated model classes. Impersonation is per request (`impersonate`), never
a default header of the shared session, so one client serves every tenant safely.

Every write carries a field manager of ours (`fieldManager`, which the API server records
in managedFields): the client's default, `DEFAULT_FIELD_MANAGER`, or the one a view names
(`managed_by`), as each controller names its own status writes. A server-side apply names
its manager itself.

Every request names its sender in `User-Agent` (`user_agent`): the API server's audit
log records it, and it is how the replicas and shards of one controller, all acting as
one ServiceAccount, are told apart there.

Errors are those of `kube.errors`.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self

import aiohttp
import orjson
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import Counter

from kidp_gitops.kube.config import ClusterConfig
from kidp_gitops.kube.errors import ApiError, ConnectionFailed

JSON = dict[str, Any]

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

DEFAULT_FIELD_MANAGER = "kidp"
"""The field manager of writes made without a more specific one (not `Python`, the user
agent the API server would record otherwise)."""

DEFAULT_USER_AGENT = "kidp"
"""The sender of requests made by no named process (the CLI, tests); an engine names
itself and its identity (engine/run)."""

_WRITES = frozenset({"POST", "PUT", "PATCH"})

# Named as client-go names it, so existing dashboards and alerts find it. `dry_run` is ours:
# a server-side dry run is a PATCH that writes nothing, and must not count as a write.
REQUESTS = Counter(
    "rest_client_requests_total",
    "Requests to the Kubernetes API server, by method, status code and whether the "
    "request was a dry run.",
    ["method", "code", "dry_run"],
)


def service_account_user(namespace: str, name: str) -> str:
    """The user name the API server gives a service account's token."""
    return f"system:serviceaccount:{namespace}:{name}"


MAX_BOUNDED_ITEMS = 100_000
"""Items a bounded client (a remote cluster's) lists of one collection, all pages."""


class KubeClient:
    """Requests to one API server over one pooled HTTP session."""

    def __init__(
        self,
        config: ClusterConfig,
        *,
        timeout: float = 30.0,
        field_manager: str = DEFAULT_FIELD_MANAGER,
        max_body: int | None = None,
        max_items: int = MAX_BOUNDED_ITEMS,
        user_agent: str = DEFAULT_USER_AGENT,
    ):
        """`max_body`: the largest response body read, in bytes (a remote cluster's API
        server, named by a tenant's kubeconfig, may be anything); None: no bound. A
        bounded client also holds no more than `max_items` objects of one collection
        (a listing, and an informer's store fed by its watch). `user_agent`: who sends
        (every request of this client and its views)."""
        self.config = config
        self.user_agent = user_agent
        self._max_body = max_body
        self.max_items: int | None = max_items if max_body is not None else None
        self._base = config.server.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._as_user: str | None = None
        self._field_manager = field_manager
        self._owner: KubeClient | None = None  # set on views

    def _view(self) -> KubeClient:
        view = KubeClient(
            self.config,
            field_manager=self._field_manager,
            max_body=self._max_body,
            user_agent=self.user_agent,
        )
        view.max_items = self.max_items
        view._timeout = self._timeout
        view._as_user = self._as_user
        view._owner = self._owner or self
        return view

    def impersonate(self, user: str) -> KubeClient:
        """A view of this client whose every request acts as `user` (for a service
        account: `service_account_user(ns, name)`). It shares the connection pool; closing
        it closes nothing."""
        view = self._view()
        view._as_user = user
        return view

    def managed_by(self, field_manager: str) -> KubeClient:
        """A view of this client whose writes name `field_manager` (a controller's own
        name for its status and finalizer writes). It shares the connection pool and the
        impersonation; closing it closes nothing."""
        view = self._view()
        view._field_manager = field_manager
        return view

    @property
    def user(self) -> str | None:
        """The impersonated user, or None for the client's own identity."""
        return self._as_user

    @property
    def field_manager(self) -> str:
        """The field manager of this client's writes."""
        return self._field_manager

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owner is None and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._owner is not None:
            return self._owner._http()
        if self._session is None:
            # The API server's own session, not `runtime/outbound`'s: its TLS (the CA and
            # client certificate of the kubeconfig) is the same for every request, it
            # lives as long as the client, and `kube` stands below `runtime`, which owns
            # every other outbound request.
            connector = aiohttp.TCPConnector(ssl=self.config.ssl_context, limit=100)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"User-Agent": self.user_agent},
            )
        return self._session

    @asynccontextmanager
    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Any,
        content_type: str,
        accept: str,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The one seam every request goes through: auth, impersonation, the field
        manager, metrics, and the translation of transport and status errors."""
        _check_path(method, path)
        if method in _WRITES and not (params and "fieldManager" in params):
            params = {**(params or {}), "fieldManager": self._field_manager}
        dry_run = "true" if params and params.get("dryRun") else "false"
        headers = {"Accept": accept}
        auth = await self.config.authorization()
        if auth:
            headers["Authorization"] = auth
        if self._as_user:
            headers["Impersonate-User"] = self._as_user
        data: bytes | None = None
        if body is not None:
            data = body if isinstance(body, bytes) else orjson.dumps(body)
            headers["Content-Type"] = content_type
        try:
            async with self._http().request(
                method,
                self._base + path,
                params=params,
                data=data,
                headers=headers,
                timeout=timeout or self._timeout,
            ) as resp:
                REQUESTS.labels(method, str(resp.status), dry_run).inc()
                if resp.status >= 400:
                    raw = await self._read(resp, method, path)
                    decoded = _decode(raw, resp.content_type)
                    raise ApiError(
                        resp.status,
                        str(decoded.get("reason") or resp.reason or ""),
                        str(decoded.get("message") or raw[:200].decode(errors="replace")),
                        decoded,
                    )
                yield resp
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            REQUESTS.labels(method, "<error>", dry_run).inc()
            raise ConnectionFailed(f"{method} {path}: {exc or type(exc).__name__}") from exc

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> JSON:
        """Send one request; return the decoded JSON body (empty for non-JSON answers)."""
        async with self._send(method, path, params, body, content_type, accept) as resp:
            raw = await self._read(resp, method, path)
            content = resp.content_type
        if self._max_body is None:
            return _decode(raw, content)
        # A bounded client talks to a server someone else runs (a remote cluster): what
        # it sends is parsed off the loop when large, and a body that is not a JSON
        # object is a broken answer, not an exception its callers do not expect.
        try:
            if len(raw) > _DECODE_ON_LOOP:
                decoded = await asyncio.to_thread(_decode, raw, content)
            else:
                decoded = _decode(raw, content)
        except orjson.JSONDecodeError as exc:
            raise ConnectionFailed(f"{method} {path}: the answer is not JSON") from exc
        if not isinstance(decoded, dict):
            raise ConnectionFailed(f"{method} {path}: the answer is not a JSON object")
        return decoded

    async def _read(self, resp: aiohttp.ClientResponse, method: str, path: str) -> bytes:
        """The whole body, or ConnectionFailed past `max_body` (read no further)."""
        if self._max_body is None:
            return await resp.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > self._max_body:
                raise ConnectionFailed(
                    f"{method} {path}: the response is larger than {self._max_body} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def stream(
        self,
        path: str,
        params: Mapping[str, str],
        read_timeout: float,
        accept: str = "application/json",
    ) -> AsyncGenerator[JSON]:
        """GET a newline-delimited JSON stream (a watch), one decoded object per line.
        Ends when the server closes the stream; `read_timeout` bounds a silent connection."""
        timeout = aiohttp.ClientTimeout(total=None, sock_read=read_timeout)
        async with self._send("GET", path, params, None, "", accept, timeout) as r:
            try:
                async for line in r.content:
                    if line.strip():
                        event = orjson.loads(line)
                        if not isinstance(event, dict):
                            raise ConnectionFailed(f"watch {path}: an event is not an object")
                        yield event
            except orjson.JSONDecodeError as exc:
                # A broken stream like any other: the informer lists again, not dies.
                raise ConnectionFailed(f"watch {path}: an event is not JSON") from exc
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise ConnectionFailed(f"watch {path}: {exc or type(exc).__name__}") from exc
            except HttpProcessingError as exc:
                # A line past aiohttp's bound (a remote server streaming one endless
                # event): a broken stream like any other, so the informer lists again
                # rather than dying.
                raise ConnectionFailed(f"watch {path}: {type(exc).__name__}") from exc

    async def get(
        self, path: str, params: Mapping[str, str] | None = None, accept: str = "application/json"
    ) -> JSON:
        return await self.request("GET", path, params=params, accept=accept)

    async def list(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        page_size: int = 500,
        accept: str = "application/json",
    ) -> JSON:
        """GET a collection, following `continue` tokens; returns one list with every
        item and the resourceVersion of the first page (a consistent snapshot)."""
        first: JSON = {}
        items: list[JSON] = []
        async for page in self.pages(path, params, page_size, accept):
            first = first or page
            items.extend(page.get("items") or [])
        first["items"] = items
        first.get("metadata", {}).pop("continue", None)
        return first

    async def pages(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        page_size: int = 500,
        accept: str = "application/json",
    ) -> AsyncIterator[JSON]:
        """The pages of a collection, one GET each, following `continue` tokens: all of
        the first page's resourceVersion. For a reader that keeps a part of each page (an
        informer's `keep`), so a collection is never held whole at once."""
        query = dict(params or {})
        query["limit"] = str(page_size)
        page = await self.get(path, query, accept)
        count = len(page.get("items") or [])
        while True:
            token = page.get("metadata", {}).get("continue")
            yield page
            if not token:
                return
            page = await self.get(path, {**query, "continue": token}, accept)
            count += len(page.get("items") or [])
            if self.max_items is not None and count > self.max_items:
                # A server someone else runs may page without end: a bounded client
                # stops, as it stops reading a body past max_body.
                raise ConnectionFailed(f"GET {path}: more than {self.max_items} items")

    async def create(self, path: str, obj: JSON) -> JSON:
        return await self.request("POST", path, body=obj)

    async def replace(self, path: str, obj: JSON) -> JSON:
        return await self.request("PUT", path, body=obj)

    async def patch(self, path: str, patch: Any, content_type: str = MERGE_PATCH) -> JSON:
        return await self.request("PATCH", path, body=patch, content_type=content_type)

    async def delete(
        self, path: str, params: Mapping[str, str] | None = None, body: JSON | None = None
    ) -> JSON:
        return await self.request("DELETE", path, params=params, body=body)

    async def apply(
        self,
        path: str,
        obj: JSON,
        *,
        field_manager: str,
        force: bool = False,
        dry_run: bool = False,
    ) -> JSON:
        """Server-side apply `obj` at its object path (…/namespaces/ns/kind/name)."""
        params = {"fieldManager": field_manager}
        if force:
            params["force"] = "true"
        if dry_run:
            params["dryRun"] = "All"
        return await self.request("PATCH", path, params=params, body=obj, content_type=APPLY_PATCH)


def _check_path(method: str, path: str) -> None:
    """Refuse a path that is not the one it reads as. Paths are built from names that
    tenants write (`valuesFrom`, `substituteFrom`, a ConfigMap's `serviceAccountName`):
    a name `../../kube-system/secrets/x` would otherwise reach another namespace's
    object as the engine, since the URL library resolves dot segments before sending,
    and `?` or `#` would end the path early. No Kubernetes name is `.` or `..` or holds
    `/`, `?`, `#` or `%`, so a path with one is never a request the engine means."""
    if "#" in path or "?" in path:
        raise ApiError(400, "BadRequest", f"{method}: a name holds '?' or '#'", {})
    for segment in path.split("/")[1:]:
        decoded = urllib.parse.unquote(segment)
        if decoded in (".", "..") or "/" in decoded or "%" in decoded:
            raise ApiError(400, "BadRequest", f"{method}: '{decoded[:64]}' is not a name", {})


_DECODE_ON_LOOP = 1 << 20
"""Bytes of a bounded client's answer parsed on the event loop; larger ones in a thread."""


def _decode(raw: bytes, content_type: str) -> JSON:
    if raw and content_type == "application/json":
        decoded: JSON = orjson.loads(raw)
        return decoded
    return {}

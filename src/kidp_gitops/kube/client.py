"""An async client for any Kubernetes resource, addressed by its API path.

Responses are decoded with orjson into plain dicts: controllers read fields directly and
never pay for generated model classes. Impersonation is per request (`as_user`), never a
default header of the shared session, so one client serves every tenant safely.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import aiohttp
import orjson

from kidp_gitops.kube.config import ClusterConfig

JSON = dict[str, Any]

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class KubeError(Exception):
    """Base of every error raised by this package."""


class ConnectionFailed(KubeError):
    """The API server could not be reached or the connection broke."""


class ApiError(KubeError):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, message: str, body: JSON | None = None):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def forbidden(self) -> bool:
        return self.status == 403


def service_account_user(namespace: str, name: str) -> str:
    """The user name the API server gives a service account's token."""
    return f"system:serviceaccount:{namespace}:{name}"


class KubeClient:
    """Requests to one API server over one pooled HTTP session."""

    def __init__(self, config: ClusterConfig, *, timeout: float = 30.0):
        self.config = config
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._as_user: str | None = None
        self._owner: KubeClient | None = None  # set on impersonating views

    def impersonate(self, user: str) -> KubeClient:
        """A view of this client whose every request acts as `user` (for a service
        account: `service_account_user(ns, name)`). It shares the connection pool; closing
        it closes nothing."""
        view = KubeClient(self.config)
        view._timeout = self._timeout
        view._as_user = user
        view._owner = self._owner or self
        return view

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
            connector = aiohttp.TCPConnector(ssl=self.config.ssl_context, limit=64)
            self._session = aiohttp.ClientSession(
                base_url=self.config.server,
                connector=connector,
                timeout=self._timeout,
                json_serialize=lambda o: orjson.dumps(o).decode(),
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        as_user: str | None = None,
    ) -> JSON:
        """Send one request; return the decoded JSON body or raise ApiError."""
        headers = {"Accept": "application/json"}
        auth = await self.config.authorization()
        if auth:
            headers["Authorization"] = auth
        if user := as_user or self._as_user:
            headers["Impersonate-User"] = user
        data: bytes | None = None
        if body is not None:
            data = body if isinstance(body, bytes) else orjson.dumps(body)
            headers["Content-Type"] = content_type
        # aiohttp's base_url must be joined with a relative path.
        url = path.lstrip("/")
        try:
            async with self._http().request(
                method, url, params=params, data=data, headers=headers
            ) as resp:
                raw = await resp.read()
                status = resp.status
                is_json = resp.content_type == "application/json"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ConnectionFailed(f"{method} {path}: {exc or type(exc).__name__}") from exc
        decoded: JSON = orjson.loads(raw) if raw and is_json else {}
        if status >= 400:
            raise ApiError(
                status,
                str(decoded.get("reason") or resp.reason or ""),
                str(decoded.get("message") or raw[:200].decode(errors="replace")),
                decoded,
            )
        return decoded

    async def get(self, path: str, **kw: Any) -> JSON:
        return await self.request("GET", path, **kw)

    async def create(self, path: str, obj: JSON, **kw: Any) -> JSON:
        return await self.request("POST", path, body=obj, **kw)

    async def delete(self, path: str, **kw: Any) -> JSON:
        return await self.request("DELETE", path, **kw)

    async def apply(
        self,
        path: str,
        obj: JSON,
        *,
        field_manager: str,
        force: bool = False,
        dry_run: bool = False,
        **kw: Any,
    ) -> JSON:
        """Server-side apply `obj` at its object path (…/namespaces/ns/kind/name)."""
        params = {"fieldManager": field_manager}
        if force:
            params["force"] = "true"
        if dry_run:
            params["dryRun"] = "All"
        return await self.request(
            "PATCH", path, params=params, body=obj, content_type=APPLY_PATCH, **kw
        )

"""Kinds to API paths, from the server's discovery documents.

Manifests name a kind (`apps/v1`, `Deployment`); the API wants a resource path
(`/apis/apps/v1/namespaces/ns/deployments/name`). Aggregated discovery (apidiscovery v2)
gives every group, version and resource in two requests. The map is refreshed when an
unknown kind is asked for — right after a CRD is applied, say — at most once per
`min_refresh` seconds, so a typo in a manifest cannot hammer the server.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import quote

from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import KubeError

_AGGREGATED = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
)


class UnknownKind(KubeError):
    """The server does not serve this apiVersion/kind (yet: a CRD may be missing)."""

    def __init__(self, api_version: str, kind: str):
        super().__init__(
            f"no kind {kind} in {api_version} is served by the cluster "
            f"(is its CustomResourceDefinition installed?)"
        )
        self.api_version = api_version
        self.kind = kind


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The collection path (no name) or object path; cluster-wide when a namespaced
        resource gets no namespace."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        return f"{base}/{quote(name, safe='')}" if name else base


class RestMapper:
    def __init__(self, client: KubeClient, min_refresh: float = 2.0):
        self._client = client
        self._min_refresh = min_refresh
        self._by_kind: dict[tuple[str, str], Resource] = {}
        self._refreshed_at = float("-inf")
        self._lock = asyncio.Lock()

    async def resource(self, api_version: str, kind: str) -> Resource:
        found = self._by_kind.get((api_version, kind))
        if found is None:
            await self.refresh(force=False)
            found = self._by_kind.get((api_version, kind))
        if found is None:
            raise UnknownKind(api_version, kind)
        return found

    async def resource_for(self, obj: JSON) -> Resource:
        return await self.resource(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))

    async def path_for(self, obj: JSON) -> str:
        """The object path of a manifest (its namespace and name from metadata)."""
        meta = obj.get("metadata") or {}
        res = await self.resource_for(obj)
        return res.path(meta.get("namespace"), meta.get("name"))

    async def refresh(self, force: bool = True) -> None:
        async with self._lock:
            if not force and time.monotonic() - self._refreshed_at < self._min_refresh:
                return
            core, groups = await asyncio.gather(
                self._client.request("GET", "/api", accept=_AGGREGATED),
                self._client.request("GET", "/apis", accept=_AGGREGATED),
            )
            mapping: dict[tuple[str, str], Resource] = {}
            for doc in (core, groups):
                for group in doc.get("items") or []:
                    _add_group(mapping, group)
            self._by_kind = mapping
            self._refreshed_at = time.monotonic()


def _add_group(mapping: dict[tuple[str, str], Resource], group: JSON) -> None:
    name = (group.get("metadata") or {}).get("name") or ""
    for version in group.get("versions") or []:
        v = version["version"]
        for res in version.get("resources") or []:
            kind = (res.get("responseKind") or {}).get("kind")
            if not kind:
                continue
            r = Resource(name, v, kind, res["resource"], res.get("scope") == "Namespaced")
            mapping[(r.api_version, kind)] = r

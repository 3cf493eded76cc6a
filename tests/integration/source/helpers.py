"""Creating GitRepositories and waiting on their status, for the source tests."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from kidp_gitops.kube import ApiError, KubeClient
from tests.integration.wait import until_object

GROUP = "source.toolkit.fluxcd.io/v1"


def path(namespace: str, name: str = "") -> str:
    base = f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{namespace}/gitrepositories"
    return f"{base}/{name}" if name else base


async def create_secret(
    kube: KubeClient, namespace: str, name: str, data: Mapping[str, str | bytes]
) -> None:
    encoded = {
        k: base64.b64encode(v.encode() if isinstance(v, str) else v).decode()
        for k, v in data.items()
    }
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded}
    try:
        await kube.create(f"/api/v1/namespaces/{namespace}/secrets", body)
    except ApiError as err:
        if not err.conflict:
            raise
        await kube.replace(
            f"/api/v1/namespaces/{namespace}/secrets/{name}",
            {**body, "metadata": {"name": name, "namespace": namespace}},
        )


async def create_repo(kube: KubeClient, namespace: str, name: str, spec: dict[str, Any]) -> None:
    await kube.create(
        path(namespace),
        {"apiVersion": GROUP, "kind": "GitRepository", "metadata": {"name": name}, "spec": spec},
    )


def condition(obj: dict[str, Any], type_: str = "Ready") -> dict[str, Any]:
    """The condition of that type, or {} when the object has none."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


async def wait_condition(
    kube: KubeClient,
    namespace: str,
    name: str,
    status: str,
    reason: str | None = None,
    timeout: float = 30,
) -> dict[str, Any]:
    def check(obj: dict[str, Any] | None) -> dict[str, Any] | None:
        if obj is None:
            return None
        ready = condition(obj)
        matches = ready.get("status") == status and reason in (None, ready.get("reason"))
        current = obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
        return obj if matches and current else None

    what = f"{name} Ready={status} {reason or ''}"
    return await until_object(kube, path(namespace, name), check, timeout, what)


async def wait_revision(
    kube: KubeClient, namespace: str, name: str, sha: str, timeout: float = 30
) -> dict[str, Any]:
    def check(obj: dict[str, Any] | None) -> dict[str, Any] | None:
        artifact = ((obj or {}).get("status") or {}).get("artifact") or {}
        return obj if artifact.get("revision", "").endswith(sha) else None

    what = f"{name} at revision {sha[:8]}"
    return await until_object(kube, path(namespace, name), check, timeout, what)


async def request_reconcile(kube: KubeClient, namespace: str, name: str) -> None:
    stamp = f"{time.time():.6f}"
    await kube.patch(
        path(namespace, name),
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}},
    )


async def artifact_files(obj: dict[str, Any]) -> dict[str, bytes]:
    """Download the artifact over HTTP, as a consumer in another process would."""
    artifact = obj["status"]["artifact"]
    async with aiohttp.ClientSession() as http, http.get(artifact["url"]) as resp:
        assert resp.status == 200
        data = await resp.read()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == artifact["digest"]
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            content = tar.extractfile(member)
            if content is not None:
                files[member.name] = content.read()
    return files

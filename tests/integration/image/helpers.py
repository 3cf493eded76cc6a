"""Creating image objects and waiting on their status, for the image tests."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from kidp_gitops.kube import KubeClient
from tests.integration.source.helpers import condition
from tests.integration.wait import until_object

PLURALS = {
    "ImageRepository": "imagerepositories",
    "ImagePolicy": "imagepolicies",
    "ImageUpdateAutomation": "imageupdateautomations",
}


def path(kind: str, namespace: str, name: str = "", version: str = "v1") -> str:
    base = f"/apis/image.toolkit.fluxcd.io/{version}/namespaces/{namespace}/{PLURALS[kind]}"
    return f"{base}/{name}" if name else base


async def create(
    kube: KubeClient,
    kind: str,
    namespace: str,
    name: str,
    spec: dict[str, Any],
    version: str = "v1",
) -> None:
    body = {
        "apiVersion": f"image.toolkit.fluxcd.io/{version}",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }
    await kube.create(path(kind, namespace, version=version), body)


def dockerconfigjson(host: str, username: str, password: str) -> bytes:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps(
        {"auths": {host: {"username": username, "password": password, "auth": auth}}}
    ).encode()


async def wait_ready(
    kube: KubeClient,
    kind: str,
    namespace: str,
    name: str,
    status: str = "True",
    reason: str | None = None,
    timeout: float = 60,
    also: Any = None,
) -> dict[str, Any]:
    """The object once Ready has `status` (and `reason`), for its current generation,
    and `also(obj)` holds."""

    def check(obj: dict[str, Any] | None) -> dict[str, Any] | None:
        if obj is None:
            return None
        ready = condition(obj)
        st = obj.get("status") or {}
        if ready.get("status") != status or reason not in (None, ready.get("reason")):
            return None
        if st.get("observedGeneration") != obj["metadata"]["generation"]:
            return None
        return obj if also is None or also(obj) else None

    what = f"{kind} {name} Ready={status} {reason or ''}"
    return await until_object(kube, path(kind, namespace, name), check, timeout, what)


async def request_reconcile(kube: KubeClient, kind: str, namespace: str, name: str) -> None:
    await kube.patch(
        path(kind, namespace, name),
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": f"{time.time():.6f}"}}},
    )

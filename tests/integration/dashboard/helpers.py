"""Talking to the engine's dashboard over HTTP, as a browser does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import yaml

from kidp_gitops.engine.run import Engine
from tests.integration.wait import until

JSON = dict[str, Any]


def base_url(engine: Engine) -> str:
    assert engine.ports.get("dashboard")
    return f"http://127.0.0.1:{engine.ports['dashboard']}"


async def get_json(url: str) -> tuple[int, JSON]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def find_row(base: str, kind: str, namespace: str, name: str) -> JSON | None:
    _, body = await get_json(f"{base}/api/v1/objects")
    for row in body["items"]:
        if (row["kind"], row["namespace"], row["name"]) == (kind, namespace, name):
            return dict(row)
    return None


async def wait_row(
    base: str, kind: str, namespace: str, name: str, ok: Callable[[JSON], bool], what: str
) -> JSON:
    async def probe() -> JSON | None:
        row = await find_row(base, kind, namespace, name)
        return row if row is not None and ok(row) else None

    return await until(probe, 60, f"{kind} {namespace}/{name} in the dashboard: {what}")


class Stream:
    """An open /api/v1/stream: `next_matching` reads messages until one fits."""

    def __init__(self, resp: aiohttp.ClientResponse):
        self._resp = resp
        self.seen: list[JSON] = []

    async def next_matching(self, ok: Callable[[JSON], bool], timeout: float = 60) -> JSON:
        async def read() -> JSON:
            data: list[str] = []
            while True:
                raw = await self._resp.content.readline()
                if not raw:
                    raise AssertionError("the stream ended")
                line = raw.decode().rstrip("\n")
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    message: JSON = json.loads("\n".join(data))
                    data = []
                    self.seen.append(message)
                    if ok(message):
                        return message

        try:
            return await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"no matching stream message in {timeout} s; saw {self.seen[-5:]!r}"
            ) from None


@asynccontextmanager
async def open_stream(base: str) -> AsyncIterator[Stream]:
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(f"{base}/api/v1/stream") as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        stream = Stream(resp)
        await stream.next_matching(lambda m: True, 10)  # the hello: subscribed from here
        yield stream


def configmap(name: str, namespace: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"greeting": "hello"},
        }
    )


def deployment(name: str, namespace: str, annotations: dict[str, str] | None = None) -> str:
    meta: JSON = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]},
                },
            },
        }
    )


def child_kustomization(name: str, namespace: str, path: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "interval": "1h",
                "path": f"./{path}",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "kidp-infrastructure"},
            },
        }
    )

"""A loopback HTTP server standing in for Slack, a webhook or Alertmanager, and the
Providers, Alerts and Receivers of the notification tests."""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from kidp_gitops.engine.run import Engine
from kidp_gitops.kube import KubeClient
from tests.gitserver.keys import Certificate, server_tls
from tests.integration.source.helpers import condition
from tests.integration.wait import until, until_object

NOTIFICATION = "/apis/notification.toolkit.fluxcd.io/{version}/namespaces/{ns}/{plural}"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Inbox:
    """Records every POST; a path under /fail/ answers 500."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(request.path, dict(request.headers), body))
        if request.path.startswith("/fail/"):
            return web.Response(status=500, text="down")
        return web.Response(text="ok")

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait(
        self, path: str, match: Callable[[Received], bool], what: str, timeout: float = 60
    ) -> Received:
        async def probe() -> Received | None:
            return next((r for r in self.at(path) if match(r)), None)

        return await until(probe, timeout, f"{what} at {path}")


@asynccontextmanager
async def inbox(tls: Certificate | None = None) -> AsyncIterator[Inbox]:
    """A recording HTTP server on loopback (HTTPS with `tls`)."""
    box = Inbox()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", box._handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)  # not 60 s in flight
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls(tls) if tls else None)
    await site.start()
    box.url = f"{'https' if tls else 'http'}://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield box
    finally:
        await runner.cleanup()


def slack_text(r: Received) -> str:
    """The author and text of a Slack message (one attachment per event)."""
    attachment = r.json()["attachments"][0]
    return f"{attachment['author_name']}: {attachment['text']}"


async def create(
    kube: KubeClient, namespace: str, kind: str, name: str, spec: dict[str, Any], version: str
) -> None:
    plural = kind.lower() + "s"
    await kube.create(
        NOTIFICATION.format(version=version, ns=namespace, plural=plural),
        {
            "apiVersion": f"notification.toolkit.fluxcd.io/{version}",
            "kind": kind,
            "metadata": {"name": name},
            "spec": spec,
        },
    )


async def wait_ready(
    kube: KubeClient,
    namespace: str,
    kind: str,
    name: str,
    status: str = "True",
    reason: str | None = None,
    timeout: float = 60,
) -> dict[str, Any]:
    version = "v1" if kind == "Receiver" else "v1beta3"
    path = NOTIFICATION.format(version=version, ns=namespace, plural=kind.lower() + "s")

    def check(obj: dict[str, Any] | None) -> dict[str, Any] | None:
        if obj is None:
            return None
        ready = condition(obj)
        ok = ready.get("status") == status and reason in (None, ready.get("reason"))
        return obj if ok else None

    what = f"{kind} {name} Ready={status} {reason or ''}"
    return await until_object(kube, f"{path}/{name}", check, timeout, what)


async def served(engine: Engine, receiver: dict[str, Any], timeout: float = 10) -> str:
    """The webhook path of `receiver` (as the test last read it), once the engine's webhook
    server serves it. The server finds Receivers in the engine's informer, which hears of a
    status write a moment after a watch of the test may have: a call in between is a 404."""
    meta = receiver["metadata"]
    assert engine.cache is not None, "the engine is not running"
    informers = [i for i in engine.cache.informers() if i.resource.kind == "Receiver"]
    seen = int(meta["resourceVersion"])  # etcd's revision: what the test read, or later

    async def known() -> bool:
        held = [i.get(meta["namespace"], meta["name"]) for i in informers]
        return any(h and int(h["metadata"]["resourceVersion"]) >= seen for h in held)

    await until(known, timeout, f"the engine's webhook server to know {meta['name']}")
    return str(receiver["status"]["webhookPath"])


async def events_of(kube: KubeClient, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
    listed = await kube.get(f"/api/v1/namespaces/{namespace}/events")
    return [
        e
        for e in listed["items"]
        if e["involvedObject"].get("kind") == kind and e["involvedObject"].get("name") == name
    ]


async def events_once(
    kube: KubeClient,
    namespace: str,
    kind: str,
    name: str,
    *,
    reason: str | None = None,
    message: str | None = None,
    count: int = 1,
    timeout: float = 30,
) -> list[dict[str, Any]]:
    """Every event about the object, once `count` of them have that `reason` and hold
    `message`. The engine writes a reconcile's event just after the status a test's wait
    returns at (a watch sees that write at once), so an assertion on the events waits
    for them first."""

    def matches(event: dict[str, Any]) -> bool:
        return reason in (None, event["reason"]) and (message or "") in event.get("message", "")

    async def probe() -> list[dict[str, Any]] | None:
        found = await events_of(kube, namespace, kind, name)
        return found if sum(map(matches, found)) >= count else None

    what = f"{count} event(s) of {kind} {name} {reason or ''} {message or ''}"
    return await until(probe, timeout, what)


async def record_event(
    kube: KubeClient, namespace: str, message: str, type_: str = "Normal", name: str = "repo"
) -> None:
    """A Flux-style event about a GitRepository, as a controller in another process (or
    Flux's own source-controller) writes it."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    await kube.create(
        f"/api/v1/namespaces/{namespace}/events",
        {
            "metadata": {"name": f"{name}.{uuid.uuid4().hex[:12]}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "name": name,
                "namespace": namespace,
            },
            "type": type_,
            "reason": "NewArtifact",
            "message": message,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "source": {"component": "source-controller"},
        },
    )

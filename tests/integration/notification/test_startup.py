"""A dispatcher that starts (a restart, a new leader) does not replay the events already
in the cluster: only events recorded after its informer synced are sent.

The session's engine dispatches too, so every new event reaches the inbox once from it;
a second dispatcher started mid-test must add a copy of the new event, and none of the
old one."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from kidp_gitops.kube import KubeClient, RestMapper
from kidp_gitops.kube.informer import Informer
from kidp_gitops.notification.dispatcher import Dispatcher
from kidp_gitops.runtime.events import EventRecorder
from tests.integration.notification.helpers import (
    Inbox,
    create,
    inbox,
    record_event,
    wait_ready,
)
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")


def copies(box: Inbox, message: str) -> int:
    return sum(1 for r in box.at("/events") if r.json()["message"] == message)


async def arrived(box: Inbox, message: str, count: int) -> bool:
    return copies(box, message) == count


async def test_events_before_the_start_are_not_sent(kube: KubeClient, namespace: str) -> None:
    async with inbox() as box:
        provider = {"type": "generic", "address": box.url + "/events"}
        await create(kube, namespace, "Provider", "hook", provider, "v1beta3")
        spec: dict[str, Any] = {
            "providerRef": {"name": "hook"},
            "eventSources": [{"kind": "GitRepository", "name": "*"}],
        }
        await create(kube, namespace, "Alert", "all", spec, "v1beta3")
        await wait_ready(kube, namespace, "Alert", "all")
        old, new = f"old {uuid.uuid4().hex}", f"new {uuid.uuid4().hex}"
        await record_event(kube, namespace, old)
        await until(lambda: arrived(box, old, 1), 60, "the engine's copy")

        mapper = RestMapper(kube)
        informers = {
            name: Informer(kube, await mapper.resource(version, kind), namespace=namespace)
            for name, version, kind in (
                ("events", "v1", "Event"),
                ("alerts", "notification.toolkit.fluxcd.io/v1beta3", "Alert"),
                ("providers", "notification.toolkit.fluxcd.io/v1beta3", "Provider"),
            )
        }
        dispatcher = Dispatcher(
            kube,
            mapper,
            EventRecorder(kube, "test"),
            events=informers["events"],
            alerts=informers["alerts"],
            providers_=informers["providers"],
        )
        stop = asyncio.Event()
        # Alerts and Providers known first, so an old event replayed would be sent.
        for name in ("alerts", "providers"):
            informers[name].start()
            await informers[name].wait_synced(30)
        running = asyncio.create_task(dispatcher.run(stop))
        informers["events"].start()
        try:
            await informers["events"].wait_synced(30)
            await record_event(kube, namespace, new)
            await until(lambda: arrived(box, new, 2), 60, "both copies")
            assert copies(box, old) == 1
            assert dispatcher.sent == 1
        finally:
            stop.set()
            await running
            for informer in informers.values():
                await informer.stop()

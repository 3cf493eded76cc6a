"""Wiring of the notification controller.

    Alerts ──────► AlertReconciler (Ready)        ◄── Providers (an Alert waits for its own)
    Receivers ───► ReceiverReconciler (webhookPath, Ready)
    core/v1 Events ─► Dispatcher ─► Providers over HTTP   (runs with the Alert controller)
    ReceiverServer: POST /hook/<digest> ─► reconcile.fluxcd.io/requestedAt on resources

The Alert controller carries the dispatcher: the manager runs it only on the leader, so
one replica sends each notification. The webhook server answers on every replica. The
lockdown reaches all four: Alerts and Receivers refuse what names another namespace, the
dispatcher and the server act only within the object's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from kidp_gitops.api import notification as api
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.informer import EventType, Informer
from kidp_gitops.notification import alert, receiver, server
from kidp_gitops.notification.dispatcher import Dispatcher
from kidp_gitops.notification.matching import RateLimiter
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.controller import Controller
from kidp_gitops.runtime.reconcile import Reconciler, Request

ALERT_VERSION = api.Alert.RESOURCE.api_version()
PROVIDER_VERSION = api.Provider.RESOURCE.api_version()
RECEIVER_VERSION = api.Receiver.RESOURCE.api_version()
BY_PROVIDER = "provider"


class AlertController(Controller):
    """The Alert controller, which also runs the event dispatcher while it runs."""

    def __init__(
        self,
        informer: Informer,
        reconciler: Reconciler,
        dispatcher: Dispatcher,
        *,
        concurrency: int = 4,
    ):
        super().__init__("alert", informer, reconciler, concurrency=concurrency)
        self.dispatcher = dispatcher

    @property
    def informers(self) -> list[Informer]:
        return [*super().informers, self.dispatcher.events]

    async def run(self) -> None:
        stop = asyncio.Event()
        dispatching = asyncio.create_task(self.dispatcher.run(stop), name="notifications")
        try:
            await super().run()
        finally:
            stop.set()
            await dispatching


ReceiverServer = server.ReceiverServer


@dataclass
class Notification:
    alerts: AlertController
    receivers: Controller
    server: ReceiverServer

    @property
    def controllers(self) -> list[Controller]:
        return [self.alerts, self.receivers]


def _provider_of(obj: JSON) -> list[str]:
    ref = ((obj.get("spec") or {}).get("providerRef") or {}).get("name")
    return [f"{obj['metadata'].get('namespace')}/{ref}"] if ref else []


async def notification_controllers(
    ctx: Context, *, rate_limit_seconds: float | None = None
) -> Notification:
    client, mapper, events, namespace = ctx.client, ctx.mapper, ctx.events, ctx.namespace
    alerts_res = await mapper.resource(ALERT_VERSION, alert.KIND)
    providers_res = await mapper.resource(PROVIDER_VERSION, "Provider")
    receivers_res = await mapper.resource(RECEIVER_VERSION, receiver.KIND)
    events_res = await mapper.resource("v1", "Event")

    alerts = ctx.cache.own(alerts_res, namespace=namespace)
    alerts.add_indexer(BY_PROVIDER, _provider_of)
    providers = ctx.cache.informer(providers_res, namespace=namespace)
    dispatcher = Dispatcher(
        client,
        mapper,
        events,
        events=ctx.cache.informer(events_res, namespace=namespace),
        alerts=alerts,
        providers_=providers,
        limiter=RateLimiter(rate_limit_seconds) if rate_limit_seconds is not None else None,
        lockdown=ctx.lockdown,
    )
    alert_controller = AlertController(
        alerts,
        alert.AlertReconciler(ctx, alerts_res, alerts, providers),
        dispatcher,
        concurrency=ctx.concurrency,
    )

    def alerts_of(event: EventType, obj: JSON) -> Iterable[Request]:
        meta = obj["metadata"]
        for found in alerts.by_index(BY_PROVIDER, f"{meta.get('namespace')}/{meta['name']}"):
            yield Request(found["metadata"].get("namespace", ""), found["metadata"]["name"])

    alert_controller.watch(providers, alerts_of)

    receivers = ctx.cache.own(receivers_res, namespace=namespace)
    receivers.add_indexer(server.BY_PATH, server.webhook_path_index)
    receiver_controller = Controller(
        "receiver",
        receivers,
        receiver.ReceiverReconciler(ctx, receivers_res, receivers),
        concurrency=ctx.concurrency,
    )
    return Notification(
        alert_controller,
        receiver_controller,
        server.ReceiverServer(client, mapper, receivers, ctx.lockdown),
    )

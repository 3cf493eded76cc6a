"""From Kubernetes Events to Providers.

    core/v1 Events (informer) ─► only new ones, about Flux objects ─► queue
    queue ─► workers: rate limit ─► matching Alerts ─► their Provider ─► HTTP POST

The controllers record ordinary Kubernetes Events; this module watches them through the
API server rather than through an in-process hook, so it works the same when the
controllers run in other processes (or are Flux's own). Events already in the cluster
when the informer first lists them are history, not news: only Events added or
updated afterwards are sent (a re-list after a watch expiry sends what it missed).

Only the leader sends: the informer feeds the queue only while workers run. A failed
post is retried (sender.py), then reported as a Warning event on the Alert. Under the
lockdown an Alert gets only the events of its own namespace (matching.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

from pydantic import ValidationError

from kidp_gitops.api import notification as api
from kidp_gitops.cel import evaluator, expression
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import KubeError
from kidp_gitops.kube.informer import EventType, Informer
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.notification import matching, providers, secrets
from kidp_gitops.notification.event import FluxEvent, from_kube_event
from kidp_gitops.notification.sender import Sender, SendFailed
from kidp_gitops.runtime.events import EventRecorder
from kidp_gitops.runtime.tenancy import Lockdown

log = logging.getLogger(__name__)

PROVIDER_NOT_FOUND = "ProviderNotFound"
NOTIFICATION_FAILED = "NotificationFailed"
QUEUE_LIMIT = 10_000


class Dispatcher:
    def __init__(
        self,
        client: KubeClient,
        mapper: RestMapper,
        recorder: EventRecorder,
        *,
        events: Informer,
        alerts: Informer,
        providers_: Informer,
        sender: Sender | None = None,
        limiter: matching.RateLimiter | None = None,
        workers: int = 4,
        lockdown: Lockdown | None = None,
    ):
        self.client = client
        self.mapper = mapper
        self.recorder = recorder
        self.events = events
        self.alerts = alerts
        self.providers = providers_
        self.sender = sender or Sender()
        self.limiter = limiter or matching.RateLimiter()
        self.workers = workers
        self.lockdown = lockdown or Lockdown()
        self.sent = 0
        """Notifications delivered since start (for tests and metrics)."""
        self._queue: asyncio.Queue[FluxEvent] = asyncio.Queue(QUEUE_LIMIT)
        self._running = False
        events.add_handler(self.on_event)

    def on_event(self, kind: EventType, obj: JSON) -> None:
        """Informer handler: queue a new (or repeated) event about a Flux object."""
        if kind == "DELETED" or not self._running or not self.events.synced.is_set():
            return  # the first list is history; a follower does not send
        event = from_kube_event(obj)
        if event is None:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("notification queue full: dropped an event about %s", event.involved_object)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Send queued events until cancelled (or until `stop` is set)."""
        self._running = True
        tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]
        try:
            if stop is None:
                await asyncio.gather(*tasks)
            else:
                await stop.wait()
        finally:
            self._running = False
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _work(self) -> None:
        # An event that arrives before the Alerts are known waits for them.
        await self.alerts.synced.wait()
        await self.providers.synced.wait()
        while True:
            event = await self._queue.get()
            try:
                await self.dispatch(event)
            except Exception:  # one bad event must not stop the worker
                log.exception("could not dispatch an event about %s", event.involved_object)

    async def dispatch(self, event: FluxEvent) -> None:
        """Send `event` to the Provider of every Alert that takes it."""
        if not self.limiter.allow(event):
            log.debug("rate limited: %s %s", event.involved_object, event.reason)
            return
        labels: dict[str, str] | None = None

        async def load_labels() -> dict[str, str]:
            nonlocal labels
            if labels is None:
                labels = await self._labels(event)
            return labels

        chosen: list[tuple[JSON, api.AlertSpec]] = []
        for alert in self.alerts.objects():
            try:
                spec = api.AlertSpec.model_validate(alert.get("spec") or {})
            except ValidationError:
                continue  # the Alert's status says what is wrong
            namespace = alert["metadata"]["namespace"]
            needs_labels = any(
                s.kind == event.involved_object.kind and s.match_labels for s in spec.event_sources
            )
            found: dict[str, str] = await load_labels() if needs_labels else {}
            try:
                if not matching.alert_takes(
                    spec,
                    namespace,
                    event,
                    found,
                    own_namespace_only=self.lockdown.no_cross_namespace_refs,
                ):
                    continue
            except matching.InvalidPattern:
                continue
            chosen.append((alert, spec))
        # Each Alert's Provider on its own: a slow or failing one delays no other.
        results = await asyncio.gather(
            *(self._notify(a, s, matching.decorate(s, event)) for a, s in chosen),
            return_exceptions=True,
        )
        for (alert, _), result in zip(chosen, results, strict=True):
            if isinstance(result, Exception):
                log.error("alert %s: %s", alert["metadata"]["name"], type(result).__name__)

    async def _notify(self, alert: JSON, spec: api.AlertSpec, event: FluxEvent) -> None:
        namespace = alert["metadata"]["namespace"]
        provider = self.providers.get(namespace, spec.provider_ref.name)
        if provider is None:
            self.recorder.record(
                alert,
                "Warning",
                PROVIDER_NOT_FOUND,
                f"provider '{namespace}/{spec.provider_ref.name}' not found",
            )
            return
        if (provider.get("spec") or {}).get("suspend"):
            return
        try:
            dest = await secrets.destination(self.client, provider)
            dest = await _named_status(dest, event, alert, provider)
            post = providers.build(dest, event)
            if post is None:
                return  # nothing to send (a commit status without a commit)
            await self.sender.send(dest, post)
        except (
            secrets.SecretProblem,
            providers.Unsupported,
            SendFailed,
            expression.EvaluationFailed,
        ) as err:
            self._failed(alert, spec, str(err))
            return
        except ValidationError as err:
            self._failed(alert, spec, f"invalid provider spec: {err.error_count()} error(s)")
            return
        self.sent += 1
        log.info(
            "sent %s/%s of %s to provider %s/%s",
            event.severity,
            event.reason,
            event.involved_object,
            namespace,
            spec.provider_ref.name,
        )

    def _failed(self, alert: JSON, spec: api.AlertSpec, problem: str) -> None:
        message = f"failed to send notification to provider '{spec.provider_ref.name}': {problem}"
        log.warning("alert %s: %s", alert["metadata"]["name"], message)
        self.recorder.record(alert, "Warning", NOTIFICATION_FAILED, message)

    async def _labels(self, event: FluxEvent) -> dict[str, str]:
        o = event.involved_object
        try:
            resource = await self.mapper.resource(o.api_version, o.kind)
            obj = await self.client.get(resource.path(o.namespace, o.name))
        except KubeError as err:
            log.debug("labels of %s unavailable: %s", o, err)
            return {}
        return dict((obj.get("metadata") or {}).get("labels") or {})


async def _named_status(
    dest: providers.Destination, event: FluxEvent, alert: JSON, provider: JSON
) -> providers.Destination:
    """`dest` with the commit status name the Provider's `commitStatusExpr` gives for
    this event (over `event`, `alert` and `provider`, as Flux), when it has one."""
    text = (provider.get("spec") or {}).get("commitStatusExpr")
    if not text or dest.type not in providers.COMMIT_STATUS:
        return dest
    if providers.commit_sha(event.revision) is None:
        return dest  # no commit, no status: nothing is sent
    variables = {"event": event.to_json(), "alert": alert, "provider": provider}
    try:
        name = await evaluator.evaluate(text, expression.COMMIT_STATUS, variables)
    except (expression.EvaluationFailed, expression.InvalidExpression) as err:
        raise expression.EvaluationFailed(f"spec.commitStatusExpr: {err}") from err
    if not isinstance(name, str) or not name:
        raise expression.EvaluationFailed("spec.commitStatusExpr gave no name")
    return dataclasses.replace(dest, status_name=name)

"""The manager runs a process's controllers: their informers, their workers, the leader
lease, and one HTTP endpoint for Prometheus and probes.

    GET /metrics   Prometheus text format
    GET /healthz   200 while the event loop answers
    GET /readyz    200 once every informer has synced its first list

Every replica keeps its caches warm; only the leader runs workers, so a new leader
starts reconciling at once. A process whose servers only the leader can answer for
(`ready_only_leading`: the artifact server, whose store only the leader fills) is ready
only while it leads, so its Service leads to the leader alone, as Flux's
source-controller's readiness does. `stop()` (or SIGTERM) shuts the queues: reconciles in flight
finish within the grace period or are cancelled, informers stop, the lease is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.leader import LeaderElector, LeaseTiming
from kidp_gitops.runtime import listen
from kidp_gitops.runtime.controller import Controller

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaderElection:
    namespace: str
    name: str
    identity: str
    timing: LeaseTiming = field(default_factory=LeaseTiming)


class Manager:
    def __init__(
        self,
        client: KubeClient,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        leader_election: LeaderElection | None = None,
        grace_period: float = 30.0,
        ready_only_leading: bool = False,
    ):
        self.client = client
        self.ready_only_leading = ready_only_leading
        self._elector: LeaderElector | None = None
        self.host = host
        self.port = port
        self.leader_election = leader_election
        self.grace_period = grace_period
        self.controllers: list[Controller] = []
        self._stop = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None
        self.synced = asyncio.Event()  # every informer has listed once

    def add(self, controller: Controller) -> None:
        self.controllers.append(controller)

    def stop(self) -> None:
        self._stop.set()

    def stop_on_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)

    @property
    def synced_all(self) -> bool:
        return all(i.synced.is_set() for c in self.controllers for i in c.informers)

    @property
    def leading(self) -> bool:
        """Whether this process runs its controllers now (always, without election)."""
        if self.leader_election is None:
            return True
        return self._elector is not None and self._elector.leading.is_set()

    @property
    def ready(self) -> bool:
        return self.synced_all and (self.leading or not self.ready_only_leading)

    async def run(self) -> None:
        await self._serve()
        informers = {id(i): i for c in self.controllers for i in c.informers}.values()
        for informer in informers:
            informer.start()
        synced = asyncio.create_task(self._wait_synced())
        try:
            work = asyncio.create_task(self._lead_or_run(), name="controllers")
            stopped = asyncio.create_task(self._stop.wait())
            await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
            for controller in self.controllers:
                controller.queue.shutdown()
            # Workers finish in-flight reconciles within their grace period.
            try:
                await asyncio.wait_for(asyncio.shield(work), self.grace_period + 5)
            except TimeoutError:
                work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            stopped.cancel()
        finally:
            synced.cancel()
            # Controllers may have added informers while running (watches of kinds
            # discovered on the way): stop whatever is there now.
            for informer in {id(i): i for c in self.controllers for i in c.informers}.values():
                await informer.stop()
            if self._runner is not None:
                await self._runner.cleanup()

    async def _wait_synced(self) -> None:
        await asyncio.gather(*(i.synced.wait() for c in self.controllers for i in c.informers))
        self.synced.set()

    async def _lead_or_run(self) -> None:
        if self.leader_election is None:
            await self._run_controllers()
            return
        le = self.leader_election
        t = le.timing
        self._elector = elector = LeaderElector(
            self.client,
            le.namespace,
            le.name,
            le.identity,
            lease_duration=t.lease_duration,
            renew_deadline=t.renew_deadline,
            retry_period=t.retry_period,
            release_on_cancel=t.release_on_cancel,
        )
        await elector.run(self._run_controllers)

    async def _run_controllers(self) -> None:
        await asyncio.gather(*(c.run() for c in self.controllers))

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner, self.bound_port = await listen.serve(app, self.host, self.port)

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, _: web.Request) -> web.Response:
        if not self.synced_all:
            return web.Response(status=503, text="informers not synced")
        if not self.ready:
            return web.Response(status=503, text="standing by: another replica leads")
        return web.Response(text="ok")

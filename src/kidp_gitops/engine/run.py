"""Assemble and run the engine: one API client, one manager, every controller.

The engine knows no face: whoever starts it (`kidp controller run`, the tests) passes the
HTTP apps to serve beside the controllers (the dashboard is one), each built once the
shared informer cache and client exist."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aiohttp import web

from kidp_gitops import __version__
from kidp_gitops.api import components
from kidp_gitops.api.components import Component
from kidp_gitops.engine import memory
from kidp_gitops.kube import KubeClient, RestMapper, load_config
from kidp_gitops.kube.leader import LeaseTiming
from kidp_gitops.proc import background, sandbox
from kidp_gitops.runtime import listen, outbound, redact
from kidp_gitops.runtime.cache import InformerCache
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.controller import Controller
from kidp_gitops.runtime.events import EventRecorder
from kidp_gitops.runtime.manager import LeaderElection, Manager
from kidp_gitops.runtime.remote import Remotes
from kidp_gitops.runtime.tenancy import Lockdown
from kidp_gitops.storage.artifacts import ArtifactStore

log = logging.getLogger(__name__)

COMPONENT = "kidp-controller"
LEASE = "kidp-controller-leader"


@dataclass(frozen=True)
class EngineOptions:
    data_dir: Path
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    """Watch only this namespace; all namespaces when None."""
    watch_label_selector: str | None = None
    """Reconcile only the Flux objects this label selector selects (sharding, as Flux's
    `--watch-label-selector`); all when None."""
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 8080
    artifact_host: str = "127.0.0.1"
    artifact_port: int = 9090
    artifact_url: str | None = None
    """Base URL consumers elsewhere use to fetch artifacts; derived from the bind
    address when None."""
    leader_elect: bool = False
    lease: LeaseTiming = field(default_factory=LeaseTiming)
    """The lease's periods (Flux's `--leader-election-*` flags and defaults)."""
    lease_namespace: str = field(
        default_factory=lambda: os.environ.get("RUNTIME_NAMESPACE", "flux-system")
    )
    concurrency: int = 4
    receiver_host: str = "127.0.0.1"
    receiver_port: int = 0
    """The webhook receiver's port (Flux's is 9292, the CLI's default); 0 picks a free one,
    see `Engine.receiver_port`."""
    build_limits: sandbox.Limits = field(default_factory=sandbox.Limits)
    """Memory of one build's processes, size of a file a build reads (proc/sandbox)."""
    lockdown: Lockdown = field(default_factory=Lockdown)
    """The multi-tenancy flags, the same for every controller."""
    controllers: tuple[Component, ...] = components.ALL
    """The controllers this process runs (Flux's one Deployment each), and with them their
    servers: the artifact server with source, the receiver with notification."""

    def hosts(self, component: Component) -> bool:
        return component in self.controllers

    def process_name(self) -> str:
        """Flux's name of what this process runs: `kustomize-controller`, or
        `kidp-controller` for several controllers in one."""
        named = components.named(self.controllers)
        if len(named) == 1:
            return named[0].name
        return COMPONENT

    def identity(self) -> str:
        """This process among the replicas and shards of its Deployment (a pod's hostname
        is its name): the leader-election identity, also in every request's User-Agent."""
        return f"{socket.gethostname()}_{os.getpid()}"

    def user_agent(self, identity: str) -> str:
        """What the API server records of who sent a request (its audit log's
        `userAgent`), as Flux's controllers send their own name: the process's name,
        version, and `identity`, so two replicas or shards are told apart."""
        return f"{self.process_name()}/v{__version__} ({identity})"

    def lease_name(self) -> str:
        """Every controller in one process keeps kidp's lease; one Flux controller alone
        takes Flux's (`<controller>-leader-election`), so each Deployment elects its own
        leader. A shard (a label selector) adds its selector's short digest: shards
        reconcile apart, so each elects apart."""
        if set(self.controllers) == set(components.ALL):
            name = LEASE
        else:
            named = components.named(self.controllers)
            name = "-".join(c.name for c in named) + "-leader-election"
        if self.watch_label_selector:
            digest = hashlib.sha256(self.watch_label_selector.encode()).hexdigest()
            name = f"{name}-{digest[:8]}"
        return name


class HttpApp(Protocol):
    """An HTTP app the engine serves beside its controllers, on `host:port` (0: a free
    port, see `Engine.ports[name]`); built from the engine's cache and client."""

    @property
    def name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    def build(self, cache: InformerCache, client: KubeClient) -> web.Application: ...


class Engine:
    """A running engine (see `wait_ready`)."""

    def __init__(self, options: EngineOptions, apps: Sequence[HttpApp] = ()):
        self.options = options
        self.apps = tuple(apps)
        self.manager: Manager | None = None
        self.artifact_port: int | None = None
        self.receiver_port: int | None = None
        self.ports: dict[str, int] = {}
        """The port each of `apps` listens on, by name (set once running)."""
        self.cache: InformerCache | None = None
        """The informers every controller shares (set once running; the dashboard reads it)."""
        self._started = asyncio.Event()

    async def run(self, *, handle_signals: bool = False) -> None:
        o = self.options
        identity = o.identity()
        client = KubeClient(
            await load_config(o.kubeconfig, o.context), user_agent=o.user_agent(identity)
        )
        runner: web.AppRunner | None = None
        receiver_runner: web.AppRunner | None = None
        app_runners: list[web.AppRunner] = []
        events = EventRecorder(client, COMPONENT)
        redact.mask_logs()  # no value that came from a Secret in any log line
        sandbox.configure(o.build_limits)
        http = outbound.Outbound()
        remotes: Remotes | None = None
        installed = outbound.install(http)  # the controllers' tasks, started below, use it
        try:
            await asyncio.to_thread(sandbox.warn_if_unavailable)
            mapper = RestMapper(client)
            await mapper.refresh()
            store: ArtifactStore | None = None
            if o.hosts(components.SOURCE) or o.hosts(components.SOURCE_WATCHER):
                runner, self.artifact_port = await self._serve_artifacts(o)
                base_url = o.artifact_url or f"http://{o.artifact_host}:{self.artifact_port}"
                store = ArtifactStore(o.data_dir / "artifacts", base_url)
            election = None
            if o.leader_elect:
                election = LeaderElection(o.lease_namespace, o.lease_name(), identity, o.lease)
            cache = InformerCache(client, shard_selector=o.watch_label_selector)
            self.cache = cache
            remotes = Remotes(client, mapper)
            manager = Manager(
                client,
                host=o.metrics_host,
                port=o.metrics_port,
                leader_election=election,
                # Only the leader's store holds artifacts: a standby must not be behind
                # the Service that consumers download them from.
                ready_only_leading=store is not None,
            )
            # What every controller is built from; those with artifacts also take the store.
            ctx = Context(
                client,
                mapper,
                events,
                cache,
                o.data_dir,
                namespace=o.namespace,
                concurrency=o.concurrency,
                lockdown=o.lockdown,
                own_namespace=o.lease_namespace,
                own_name=o.lease_name(),
                remotes=remotes,
            )
            for controller in await _controllers(ctx, o, store):
                manager.add(controller)
            if o.hosts(components.NOTIFICATION):
                from kidp_gitops.notification import notification_controllers

                notification = await notification_controllers(ctx)
                for controller in notification.controllers:
                    manager.add(controller)
                receiver_runner, self.receiver_port = await listen.serve(
                    notification.server.app(), o.receiver_host, o.receiver_port
                )
            for http_app in self.apps:
                app_runner, self.ports[http_app.name] = await listen.serve(
                    http_app.build(cache, client), http_app.host, http_app.port
                )
                app_runners.append(app_runner)
            self.manager = manager
            self._started.set()
            if handle_signals:
                manager.stop_on_signals()
                memory.report_on_signal(o.data_dir)  # SIGUSR2: where its memory goes
            await manager.run()
        finally:
            await events.flush()
            if runner is not None:
                await runner.cleanup()
            if receiver_runner is not None:
                await receiver_runner.cleanup()
            for app_runner in app_runners:
                await app_runner.cleanup()
            if remotes is not None:
                await remotes.close()
            await http.close()
            outbound.uninstall(installed)
            await background.settle()  # temporary trees still being deleted
            await client.close()

    def stop(self) -> None:
        if self.manager is not None:
            self.manager.stop()

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the manager runs and its informers have synced."""
        async with asyncio.timeout(timeout):
            await self._started.wait()
            assert self.manager is not None  # set before _started
            await self.manager.synced.wait()

    async def _serve_artifacts(self, o: EngineOptions) -> tuple[web.AppRunner, int]:
        store = ArtifactStore(o.data_dir / "artifacts", "")
        store.root.mkdir(parents=True, exist_ok=True)
        return await listen.serve(store.http_app(), o.artifact_host, o.artifact_port)


async def _controllers(
    ctx: Context, o: EngineOptions, store: ArtifactStore | None
) -> list[Controller]:
    """The controllers of the components `o` hosts, notification's aside. `store` is the
    local artifact store when this process hosts source or source-watcher, and None
    otherwise: then the appliers download artifacts from the URL in the source's status
    (storage/fetch).

    Each controller family is imported here, when hosted: a process of Flux's shape
    (`kidp install`'s Deployments) runs one or two of them and would otherwise pay for
    importing all (their API types, clients and dependencies) at every start."""
    built: list[Controller] = []
    if store is not None and o.hosts(components.SOURCE):
        from kidp_gitops.helm import binary as helm_binary
        from kidp_gitops.source import controller as source

        built += [
            await source.gitrepository_controller(ctx, store),
            await source.helmrepository_controller(ctx, store),
            await source.helmchart_controller(ctx, store, helm=helm_binary.find),
            await source.ocirepository_controller(ctx, store),
            await source.bucket_controller(ctx, store),
        ]
    if store is not None and o.hosts(components.SOURCE_WATCHER):
        from kidp_gitops.source import controller as source

        # Beside the sources it reads their artifacts from the store they share; in a
        # process of its own (Flux's source-watcher) it downloads them from their URLs
        # and serves what it composes from its own store.
        built.append(await source.artifactgenerator_controller(ctx, store))
    if o.hosts(components.KUSTOMIZE):
        from kidp_gitops.kustomize.controller import kustomization_controller

        built.append(await kustomization_controller(ctx, store))
    if o.hosts(components.HELM):
        from kidp_gitops.helm.controller import helmrelease_controller

        built.append(await helmrelease_controller(ctx, store))
    reflector, automation = (
        o.hosts(components.IMAGE_REFLECTOR),
        o.hosts(components.IMAGE_AUTOMATION),
    )
    if reflector or automation:
        from kidp_gitops.image import image_controllers

        image = await image_controllers(ctx, reflector=reflector, updater=automation)
        built += image.controllers
    return built

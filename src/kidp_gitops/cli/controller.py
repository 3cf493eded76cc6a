"""`kidp controller run`: the engine process (what the Deployment runs)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kidp_gitops.cli import options
from kidp_gitops.cli.errors import CliError

if TYPE_CHECKING:
    from kidp_gitops.kube.leader import LeaseTiming

app = typer.Typer(help="The controllers.", no_args_is_help=True)
EVERY_CONTROLLER = (
    "source,kustomize,helm,notification,image-reflector,image-automation,source-watcher"
)
"""`api.components.ALL`'s keys, written out: `--help` loads nothing beyond the CLI."""


def _lease(duration: str, deadline: str, retry: str, release: bool) -> LeaseTiming:
    """Flux's lease flags as seconds; the three must decrease, as in controller-runtime."""
    from kidp_gitops.cli.reconcile import seconds
    from kidp_gitops.kube.leader import LeaseTiming

    try:
        return LeaseTiming(
            seconds(duration, "--leader-election-lease-duration"),
            seconds(deadline, "--leader-election-renew-deadline"),
            seconds(retry, "--leader-election-retry-period"),
            release,
        )
    except ValueError as err:
        raise CliError(f"--leader-election-*: {err}") from err


def _addr(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or "0.0.0.0", int(port)


@app.command(cls=options.GoFlags)
def run(
    data_dir: Annotated[Path, typer.Option(help="Git mirrors, checkouts and artifacts.")] = Path(
        "./kidp-data"
    ),
    metrics_addr: Annotated[
        str, typer.Option(help="host:port of /metrics, /healthz, /readyz.")
    ] = "127.0.0.1:8080",
    artifact_addr: Annotated[
        str, typer.Option(help="host:port of the artifact server.")
    ] = "127.0.0.1:9090",
    artifact_url: Annotated[
        str | None, typer.Option(help="Base URL other processes use to fetch artifacts.")
    ] = None,
    receiver_addr: Annotated[
        str, typer.Option(help="host:port of the webhook receiver (POST /hook/...).")
    ] = "127.0.0.1:9292",
    dashboard_addr: Annotated[
        str, typer.Option(help="host:port of the dashboard (web UI and JSON API).")
    ] = "127.0.0.1:9080",
    dashboard_actions: Annotated[
        bool,
        typer.Option(
            "--dashboard-actions",
            help="Let the dashboard reconcile, suspend and resume. It has no login: "
            "anyone who reaches its address can act.",
        ),
    ] = False,
    watch_namespace: Annotated[str | None, typer.Option(help="Watch one namespace only.")] = None,
    watch_label_selector: Annotated[
        str | None,
        typer.Option(
            help="Reconcile only the Flux objects this label selector selects (sharding: "
            "'sharding.fluxcd.io/key=shard1'; the main instance '!sharding.fluxcd.io/key')."
        ),
    ] = None,
    leader_elect: Annotated[
        bool,
        typer.Option(
            "--leader-elect/--no-leader-elect",
            "--enable-leader-election",
            help="Run the controllers only while holding the lease (Flux's "
            "--enable-leader-election; also the =true form).",
        ),
    ] = False,
    leader_election_lease_duration: Annotated[
        str, typer.Option(help="How long a candidate waits before it takes an unrenewed lease.")
    ] = "35s",
    leader_election_renew_deadline: Annotated[
        str, typer.Option(help="How long the leader tries to renew before it stops leading.")
    ] = "30s",
    leader_election_retry_period: Annotated[
        str, typer.Option(help="How often candidates try the lease and the leader renews it.")
    ] = "5s",
    leader_election_release_on_cancel: Annotated[
        bool,
        typer.Option(
            help="Give the lease up on shutdown, so a standby leads at once instead of "
            "after the lease duration."
        ),
    ] = True,
    controllers: Annotated[
        str,
        typer.Option(
            help="The controllers this process runs, comma-separated: source, kustomize, "
            "helm, notification, image-reflector, image-automation (one Flux Deployment "
            "each; the artifact server runs with source, the receiver with notification, "
            "the dashboard with kustomize)."
        ),
    ] = EVERY_CONTROLLER,
    concurrency: Annotated[int, typer.Option(help="Parallel reconciles per kind.")] = 4,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    no_cross_namespace_refs: Annotated[
        bool,
        typer.Option(
            "--no-cross-namespace-refs",
            help="Refuse references to objects in other namespaces (multi-tenancy "
            "lockdown, as Flux's flag; also --no-cross-namespace-refs=true).",
        ),
    ] = False,
    no_remote_bases: Annotated[
        bool,
        typer.Option(
            "--no-remote-bases",
            help="Refuse remote bases in kustomizations: everything must come from the source.",
        ),
    ] = False,
    default_service_account: Annotated[
        str | None,
        typer.Option(
            "--default-service-account",
            help="Impersonate this service account (in the object's namespace) when a "
            "Kustomization or HelmRelease sets no serviceAccountName.",
        ),
    ] = None,
    default_kubeconfig_service_account: Annotated[
        str | None,
        typer.Option(
            "--default-kubeconfig-service-account",
            help="Send a token of this service account (in the object's namespace) when a "
            "kubeConfig.configMapRef ConfigMap names no serviceAccountName, not the "
            "engine's own (--default-service-account, when set, comes first).",
        ),
    ] = None,
    build_memory_limit: Annotated[
        int,
        typer.Option(
            help="MiB of resident memory one build's processes (kustomize, helm, git) may "
            "use together before they are stopped.",
            min=64,
        ),
    ] = 1024,
    build_file_size_limit: Annotated[
        int,
        typer.Option(help="KiB: the largest repository file a build reads.", min=1),
    ] = 8192,
    helm_render_time_limit: Annotated[
        float,
        typer.Option(
            help="Seconds a Helm chart's templates may render at most, whatever a "
            "HelmRelease's spec.timeout (a quarter of it, at least 10 s unless this "
            "is less).",
            min=1,
        ),
    ] = 60.0,
    kubeconfig: options.Kubeconfig = None,
    context: options.Context = None,
) -> None:
    """Run the controllers until SIGTERM."""
    from kidp_gitops.api import components
    from kidp_gitops.daemon import controller
    from kidp_gitops.engine import tlsbuffers
    from kidp_gitops.engine.run import EngineOptions
    from kidp_gitops.proc.sandbox import Limits
    from kidp_gitops.runtime.tenancy import Lockdown

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        hosted = components.parse_keys(controllers)
    except ValueError as err:
        raise CliError(f"--controllers: {err}") from err
    metrics_host, metrics_port = _addr(metrics_addr)
    artifact_host, artifact_port = _addr(artifact_addr)
    receiver_host, receiver_port = _addr(receiver_addr)
    dashboard_host, dashboard_port = _addr(dashboard_addr)
    engine = controller.build(
        EngineOptions(
            data_dir=data_dir.resolve(),
            kubeconfig=kubeconfig,
            context=context,
            namespace=watch_namespace,
            watch_label_selector=watch_label_selector,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            artifact_host=artifact_host,
            artifact_port=artifact_port,
            artifact_url=artifact_url,
            receiver_host=receiver_host,
            receiver_port=receiver_port,
            leader_elect=leader_elect,
            lease=_lease(
                leader_election_lease_duration,
                leader_election_renew_deadline,
                leader_election_retry_period,
                leader_election_release_on_cancel,
            ),
            concurrency=concurrency,
            build_limits=Limits(
                memory=build_memory_limit * 1024 * 1024,
                file_size=build_file_size_limit * 1024,
                render=helm_render_time_limit,
            ),
            lockdown=Lockdown(
                no_cross_namespace_refs=no_cross_namespace_refs,
                no_remote_bases=no_remote_bases,
                default_service_account=default_service_account,
                default_kubeconfig_service_account=default_kubeconfig_service_account,
            ),
            controllers=hosted,
        ),
        dashboard_host=dashboard_host,
        dashboard_port=dashboard_port,
        dashboard_actions=dashboard_actions,
    )
    tlsbuffers.shrink()  # before any connection: a process of its own (engine/tlsbuffers)
    asyncio.run(engine.run(handle_signals=True))

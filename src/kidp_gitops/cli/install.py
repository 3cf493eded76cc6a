"""`kidp install`: the CRDs, namespace, RBAC and controllers, applied or printed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
import yaml
from rich.console import Console

from kidp_gitops.cli import options, session
from kidp_gitops.cli.errors import CliError

if TYPE_CHECKING:
    from kidp_gitops.install.apply import Installed


def install(
    export: Annotated[
        bool, typer.Option("--export", help="Print the manifests, apply nothing.")
    ] = False,
    namespace: options.Namespace = session.DEFAULT_NAMESPACE,
    controllers: Annotated[
        bool,
        typer.Option(
            "--controllers/--without-controllers",
            help="Also install the controller Deployments (off when they run elsewhere).",
        ),
    ] = True,
    image: options.Image = None,
    components: Annotated[
        str,
        typer.Option(
            "--components",
            help="Flux's controllers to install, comma-separated.",
        ),
    ] = "source-controller,kustomize-controller,helm-controller,notification-controller",
    components_extra: Annotated[
        str,
        typer.Option(
            "--components-extra",
            help="More of them: image-reflector-controller,image-automation-controller,"
            "source-watcher (the ArtifactGenerators in a Deployment of their own; else "
            "source-controller runs them).",
        ),
    ] = "",
    single_process: Annotated[
        bool,
        typer.Option(
            "--single-process",
            help="One Deployment, kidp-controller, runs every controller (small clusters; "
            "Flux's patches aimed at its per-controller Deployments then match nothing).",
        ),
    ] = False,
    shards: Annotated[
        int,
        typer.Option(
            "--shards",
            min=0,
            help="Also run N shards of source-, kustomize- and helm-controller, each "
            "reconciling the objects labelled sharding.fluxcd.io/key=shard<k>; the main "
            "ones take the unlabelled objects.",
        ),
    ] = 0,
    replicas: Annotated[
        int,
        typer.Option(
            "--replicas",
            min=1,
            help="Pods per controller Deployment: one leads (leader election), the others "
            "stand by to take over; from 2 on, PodDisruptionBudgets keep one available.",
        ),
    ] = 1,
    kubeconfig: options.Kubeconfig = None,
    context: options.Context = None,
) -> None:
    """Install kidp-gitops into the cluster (server-side apply; safe to repeat)."""
    from kidp_gitops.api import components as flux_components
    from kidp_gitops.install import apply, manifests
    from kidp_gitops.kube import KubeClient, load_config

    try:
        hosted = flux_components.parse_names(components)
        extra = flux_components.parse_names(components_extra)
    except ValueError as err:
        raise CliError(f"--components: {err}") from err
    objects = manifests.manifests(
        namespace,
        controllers=controllers,
        hosted=(*hosted, *extra),
        single_process=single_process,
        shards=shards,
        replicas=replicas,
        image=image or manifests.IMAGE,
    )
    if export:
        typer.echo(yaml.safe_dump_all(objects, sort_keys=False), nl=False)
        return
    console = Console(stderr=True)

    async def go() -> Installed:
        async with KubeClient(await load_config(kubeconfig, context)) as client:
            return await apply.install(client, objects)

    with console.status("applying the install manifests"):
        installed = asyncio.run(go())
    changes = installed.applied
    for kept in installed.kept:
        console.print(
            f"kept {kept}: served by the CRD already installed (objects may be stored in it)"
        )
    for change in changes:
        if change.action != "unchanged":
            console.print(f"{change.ref} {change.action}")
    unchanged = sum(c.action == "unchanged" for c in changes)
    console.print(
        f"[green]✔[/] installed in namespace {namespace} "
        f"({len(changes) - unchanged} changed, {unchanged} unchanged)"
    )

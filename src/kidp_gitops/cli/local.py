"""`kidp up`, `kidp down`, `kidp status`: the whole loop on this machine."""

from __future__ import annotations

import asyncio
import json
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from kidp_gitops.cli import session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import kinds

if TYPE_CHECKING:
    from kidp_gitops.local.environment import LocalEnvironment

StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Where everything lives (default: $KIDP_STATE_DIR or ~/.local/state/kidp-gitops).",
    ),
]
Output = Annotated[str, typer.Option("--output", "-o", help="table or json")]


def up(
    state_dir: StateDir = None,
    example: Annotated[
        Path | None,
        typer.Option(
            help="The repository to serve and sync (default: examples/kidp-infrastructure)."
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for Ready.")] = 300,
    clusters: Annotated[
        int,
        typer.Option(
            min=1,
            max=2,
            help="2 also starts a second control plane, a remote cluster for spec.kubeConfig "
            "(its kubeconfig in Secret flux-system/remote-cluster-kubeconfig).",
        ),
    ] = 1,
) -> None:
    """Start a local control plane, a git server with the example repository and the
    engine, sync the repository, and wait until every GitOps object is Ready."""
    from kidp_gitops.local.environment import (
        REMOTE_IDENTITY,
        REMOTE_SECRET,
        LocalEnvironment,
        example_dir,
    )

    env = LocalEnvironment(state_dir)
    source = example or example_dir()
    if source is None or not source.is_dir():
        raise CliError("no example repository: pass --example DIR")
    console = Console(stderr=True)
    with console.status("starting") as spinner:
        asyncio.run(env.up(source, lambda msg: spinner.update(msg), timeout, clusters))
    console.print("[green]✔[/] the local environment is up and in sync")
    _show(env, "table")
    console.print(
        f"\nlogs: {env.logs}\n"
        "next:\n"
        f"  export KUBECONFIG={env.cluster.kubeconfig}\n"
        "  kubectl get kustomizations,gitrepositories -A\n"
        f"  git clone {_authenticated(env)} && edit, commit, push\n"
        "  kidp dashboard --open  # the web UI\n"
        "  kidp status          # what runs where\n"
        "  kidp down            # stop everything"
    )
    if clusters == 2:
        console.print(
            f"\nremote cluster: export KUBECONFIG={env.remote.kubeconfig}\n"
            "  a Kustomization or HelmRelease in flux-system applies there with\n"
            "    spec:\n"
            "      kubeConfig:\n"
            "        secretRef:\n"
            f"          name: {REMOTE_SECRET}\n"
            "  or, by workload identity (no kubeconfig: a token of this cluster),\n"
            "        configMapRef:\n"
            f"          name: {REMOTE_IDENTITY}"
        )


def _authenticated(env: LocalEnvironment) -> str:
    user, _ = env.git_credentials()
    return env.git_url.replace("http://", f"http://{user}@")


def down(state_dir: StateDir = None) -> None:
    """Stop everything `kidp up` started."""
    from kidp_gitops.local.environment import LocalEnvironment

    stopped = LocalEnvironment(state_dir).down()
    typer.echo("stopped" if stopped else "nothing was running")


def status(state_dir: StateDir = None, output: Output = "table") -> None:
    """Show what runs and where. Exits 3 when the environment is not running."""
    from kidp_gitops.local.environment import LocalEnvironment

    env = LocalEnvironment(state_dir)
    running = _show(env, output)
    if not running:
        raise typer.Exit(3)


def _show(env: LocalEnvironment, output: str) -> bool:
    st = env.status()
    if st["running"]:
        st["gitops"] = asyncio.run(_objects(env))
    if output == "json":
        typer.echo(json.dumps(st, indent=2))
        return bool(st["running"])
    console = Console()
    table = Table(title="kidp local environment")
    for col in ("COMPONENT", "PID", "STATUS", "LOG"):
        table.add_column(col)
    for c in st["components"]:
        table.add_row(
            c["name"], str(c["pid"]), "running" if c["running"] else "[red]stopped[/]", c["log"]
        )
    console.print(table)
    if st.get("gitops"):
        objects = Table(title="GitOps objects")
        for col in ("KIND", "NAMESPACE", "NAME", "READY", "REVISION", "MESSAGE"):
            objects.add_column(col)
        for o in st["gitops"]:
            objects.add_row(
                o["kind"], o["namespace"], o["name"], o["ready"], o["revision"], o["message"]
            )
        console.print(objects)
    console.print(
        f"kubeconfig: {st['kubeconfig']}\ngit: {st['git_url']}\nmetrics: {st['metrics_url']}"
        f"\nwebhook receiver: {st.get('receiver_url', '')}"
        f"\ndashboard: {st.get('dashboard_url', '')}"
    )
    return bool(st["running"])


def dashboard(
    state_dir: StateDir = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Also open it in the default web browser.")
    ] = False,
) -> None:
    """Print the address of the local environment's dashboard (`--open` opens it).
    For an engine in a cluster, port-forward its --dashboard-addr port (9080) instead."""
    from kidp_gitops.local.environment import LocalEnvironment

    env = LocalEnvironment(state_dir)
    st = env.status()
    if not st["running"] or not st.get("dashboard_url"):
        raise CliError(
            "the local environment is not running (kidp up); for an engine in a cluster: "
            "kubectl -n flux-system port-forward deploy/kustomize-controller 9080"
        )
    typer.echo(st["dashboard_url"])
    if open_browser:
        webbrowser.open(st["dashboard_url"])


# What `kidp status` lists, in every namespace: the sources, and what applies them.
STATUS_KINDS = (
    kinds.GIT_REPOSITORY,
    kinds.HELM_REPOSITORY,
    kinds.KUSTOMIZATION,
    kinds.HELM_RELEASE,
)


async def _objects(env: LocalEnvironment) -> list[dict[str, str]]:
    from kidp_gitops.kube import KubeClient, load_config

    rows = []
    async with KubeClient(await load_config(env.cluster.kubeconfig)) as kube:
        for kind in STATUS_KINDS:
            found, _ = await session.list_objects(kube, kind, None)
            for item in found:
                ready = kinds.condition(item)
                rows.append(
                    {
                        "kind": kind.kind,
                        "namespace": str(item["metadata"].get("namespace", "")),
                        "name": str(item["metadata"]["name"]),
                        "ready": str(ready.get("status", "Unknown")),
                        "revision": kinds.revision(item),
                        "message": str(ready.get("message", "")),
                    }
                )
    return rows

"""`kidp dev cluster up|down|status|kubeconfig`: the local control plane."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from kidp_gitops.devcluster import ClusterStatus

app = typer.Typer(help="Development helpers.", no_args_is_help=True)
cluster_app = typer.Typer(
    help="The local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok).",
    no_args_is_help=True,
)
app.add_typer(cluster_app, name="cluster")

StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Where the cluster keeps its data and logs "
        "(default: $KIDP_STATE_DIR/devcluster or ~/.local/state/kidp-gitops/devcluster).",
    ),
]
Output = Annotated[str, typer.Option("--output", "-o", help="table or json")]


def _show(status: ClusterStatus, output: str, console: Console) -> None:
    if output == "json":
        typer.echo(json.dumps(status.as_dict(), indent=2))
        return
    table = Table(title=f"local control plane at {status.server or '-'}")
    for col in ("COMPONENT", "PID", "STATUS", "LOG"):
        table.add_column(col)
    for c in status.components:
        state = "running" if c.running else "[red]stopped[/]"
        table.add_row(c.name, str(c.pid), state, str(c.log))
    console.print(table)
    console.print(f"kubeconfig: {status.kubeconfig}")


@cluster_app.command()
def up(
    state_dir: StateDir = None,
    output: Output = "table",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = 180,
) -> None:
    """Start the local control plane (building it first if needed) and wait until ready."""
    from kidp_gitops.devcluster import AlreadyRunning, DevCluster

    console = Console(stderr=True)
    cluster = DevCluster(state_dir)
    try:
        status = asyncio.run(cluster.up(timeout=timeout))
    except AlreadyRunning as running:
        console.print(f"[yellow]already running[/]: {running.status.server}")
        status = running.status
    else:
        st = cluster.state()
        console.print(f"[green]ready[/] in {st.ready_seconds if st else '?'} s")
    _show(status, output, Console())


@cluster_app.command()
def down(state_dir: StateDir = None) -> None:
    """Stop every process of the local control plane and remove its data (logs stay)."""
    from kidp_gitops.devcluster import DevCluster

    stopped = DevCluster(state_dir).down()
    typer.echo("stopped" if stopped else "nothing was running")


@cluster_app.command()
def status(state_dir: StateDir = None, output: Output = "table") -> None:
    """Show the components, their pids and logs. Exits 3 when not running."""
    from kidp_gitops.devcluster import DevCluster

    st = DevCluster(state_dir).status()
    _show(st, output, Console())
    if not st.running:
        raise typer.Exit(3)


@cluster_app.command("kubeconfig")
def kubeconfig_cmd(state_dir: StateDir = None) -> None:
    """Print the path of the admin kubeconfig.

    Use it as: export KUBECONFIG=$(kidp dev cluster kubeconfig)
    """
    from kidp_gitops.devcluster import DevCluster

    cluster = DevCluster(state_dir)
    if not cluster.kubeconfig.exists():
        raise typer.Exit(3)
    typer.echo(str(cluster.kubeconfig))


@app.command("git-server")
def git_server(
    root: Annotated[Path, typer.Option(help="Directory of bare repositories (<name>.git).")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")],
    username: Annotated[str, typer.Option(help="Basic-auth user name.")] = "kidp",
    password_file: Annotated[
        Path | None, typer.Option(help="File holding the basic-auth password.")
    ] = None,
) -> None:
    """Serve bare repositories over git smart HTTP on loopback (what `kidp up` runs)."""
    import secrets
    import tempfile

    from kidp_gitops.devcluster import githttp

    password = password_file.read_text().strip() if password_file else secrets.token_urlsafe(18)
    home = Path(tempfile.mkdtemp(prefix="kidp-git-home-"))
    backend = githttp.GitHttpBackend(root.resolve(), username, password, home)
    typer.echo(f"serving {root} on http://127.0.0.1:{port}/", err=True)
    asyncio.run(githttp.serve(backend, "127.0.0.1", port))

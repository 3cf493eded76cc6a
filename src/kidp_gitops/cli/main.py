"""Entry point of `kidp`: builds the command tree and turns errors into exit codes."""

from __future__ import annotations

import sys

import typer

from kidp_gitops import __version__
from kidp_gitops.cli import controller, dev
from kidp_gitops.cli.errors import CliError
from kidp_gitops.cli.install import install
from kidp_gitops.devcluster import DevClusterError
from kidp_gitops.kube import KubeError

app = typer.Typer(
    name="kidp",
    help="GitOps for Kubernetes, speaking Flux's APIs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(dev.app, name="dev")
app.add_typer(controller.app, name="controller")
app.command()(install)


@app.command("up")
def up_cmd(state_dir: dev.StateDir = None, output: dev.Output = "table") -> None:
    """Start the local environment: today the local control plane (built on first use).

    The controllers and the demo repository join it as they are built.
    """
    dev.up(state_dir=state_dir, output=output)
    typer.echo(
        "next: export KUBECONFIG=$(kidp dev cluster kubeconfig) && kubectl get nodes\n"
        "stop: kidp down",
        err=True,
    )


@app.command("down")
def down_cmd(state_dir: dev.StateDir = None) -> None:
    """Stop everything `kidp up` started."""
    dev.down(state_dir=state_dir)


@app.command("status")
def status_cmd(state_dir: dev.StateDir = None, output: dev.Output = "table") -> None:
    """Show what runs and where. Exits 3 when nothing runs."""
    dev.status(state_dir=state_dir, output=output)


@app.command()
def version() -> None:
    """Print the version of kidp."""
    typer.echo(__version__)


def run() -> None:
    """Console-script entry: the one place that prints errors and exits."""
    try:
        app(standalone_mode=True)
    except CliError as err:
        typer.secho(f"error: {err}", err=True, fg="red")
        sys.exit(err.exit_code)
    except (DevClusterError, KubeError) as err:
        typer.secho(f"error: {err}", err=True, fg="red")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)

"""Entry point of `kidp`: builds the command tree and turns errors into exit codes."""

from __future__ import annotations

import sys

import typer

from kidp_gitops import __version__
from kidp_gitops.cli import controller, dev, local
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


app.command("up")(local.up)
app.command("down")(local.down)
app.command("status")(local.status)


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

"""Entry point of `kidp`: builds the command tree. Errors become one line and an exit
code in `cli/group.py` (the group class of the tree); `run` is the console script."""

from __future__ import annotations

import typer

from kidp_gitops import __version__
from kidp_gitops.cli import (
    bootstrap,
    build,
    check,
    controller,
    create,
    delete,
    dev,
    diff,
    events,
    export,
    get,
    local,
    reconcile,
    stats,
    suspend,
    tree,
    uninstall,
    validate,
)
from kidp_gitops.cli.group import KidpGroup
from kidp_gitops.cli.install import install

app = typer.Typer(
    name="kidp",
    help="GitOps for Kubernetes, speaking Flux's APIs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=KidpGroup,
)
app.add_typer(dev.app, name="dev")
app.add_typer(controller.app, name="controller")
app.command()(install)

# The flux verbs.
app.add_typer(get.app, name="get")
app.add_typer(reconcile.app, name="reconcile")
app.add_typer(suspend.suspend_app, name="suspend")
app.add_typer(suspend.resume_app, name="resume")
app.command("events")(events.events)
app.add_typer(export.app, name="export")
app.add_typer(build.app, name="build")
app.add_typer(diff.app, name="diff")
app.add_typer(tree.app, name="tree")
app.command("check")(check.check)
app.add_typer(create.app, name="create")
app.add_typer(delete.app, name="delete")
app.command("stats")(stats.stats)
app.command("uninstall")(uninstall.uninstall)
app.add_typer(bootstrap.app, name="bootstrap")
app.command("validate", help=validate.HELP)(validate.validate)


app.command("up")(local.up)
app.command("down")(local.down)
app.command("status")(local.status)
app.command("dashboard")(local.dashboard)


@app.command()
def version() -> None:
    """Print the version of kidp."""
    typer.echo(__version__)


def run() -> None:
    """Console-script entry. Errors are printed, and the exit code chosen, by the
    command group itself (`cli/group.py`), so tests see exactly what users see."""
    app()

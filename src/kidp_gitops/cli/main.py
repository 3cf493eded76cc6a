"""Entry point of `kidp`: the command tree. Each subcommand lives in its module and is
loaded when the command line names it (`cli/lazy.py`): `kidp version` loads none, `kidp
get …` only `get`. Errors become one line and an exit code in `cli/group.py` (the group
class of the tree); `run` is the console script."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import typer

from kidp_gitops import __version__
from kidp_gitops.cli.group import KidpGroup


class Kidp(KidpGroup):
    """`kidp`'s subcommands: name → "module:attribute" in `kidp_gitops.cli`, a Typer
    (a command group) or a function (a command), in the order `--help` lists them."""

    subcommands: ClassVar[Mapping[str, str]] = {
        "install": "install:install",
        "events": "events:events",
        "check": "check:check",
        "stats": "stats:stats",
        "uninstall": "uninstall:uninstall",
        "validate": "validate:validate",
        "migrate": "migrate:migrate",
        "up": "local:up",
        "down": "local:down",
        "status": "local:status",
        "dashboard": "local:dashboard",
        "version": "main:version",
        "dev": "dev:app",
        "controller": "controller:app",
        "get": "get:app",
        "reconcile": "reconcile:app",
        "suspend": "suspend:suspend_app",
        "resume": "suspend:resume_app",
        "export": "export:app",
        "build": "build:app",
        "diff": "diff:app",
        "tree": "tree:app",
        "create": "create:app",
        "delete": "delete:app",
        "bootstrap": "bootstrap:app",
        "push": "artifact:push_app",
        "pull": "artifact:pull_app",
        "tag": "artifact:tag_app",
        "list": "artifact:list_app",
    }


app = typer.Typer(
    name="kidp",
    help="GitOps for Kubernetes, speaking Flux's APIs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=Kidp,
)


@app.callback()
def _group() -> None:
    # Registered so that typer makes `kidp` a group: its commands are all in `Kidp`.
    pass


def version() -> None:
    """Print the version of kidp."""
    typer.echo(__version__)


def run() -> None:
    """Console-script entry. Errors are printed, and the exit code chosen, by the
    command group itself (`cli/group.py`), so tests see exactly what users see."""
    app()

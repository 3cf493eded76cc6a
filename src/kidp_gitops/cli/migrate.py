"""`kidp migrate -f PATH`: old apiVersions of Flux kinds in a repository's files,
rewritten to the versions served today (as `flux migrate -f`).

One line per rewritten object on stdout (`file:line: Kind/name old → new`), a summary on
stderr. Exit 0 when it went through (with --dry-run: 0 too, nothing written); 2 when the
path does not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kidp_gitops.cli.errors import CliError

USAGE = 2


def migrate(
    path: Annotated[
        Path,
        typer.Option(
            "--path", "-f", help="A repository directory or one manifest file to migrate."
        ),
    ],
    extensions: Annotated[
        str,
        typer.Option(
            "--extensions",
            "-e",
            metavar="EXTS",
            help="Comma-separated file extensions to read (add .tpl for Helm templates).",
        ),
    ] = ".yaml,.yml",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would change and write nothing.")
    ] = False,
) -> None:
    """Rewrite old apiVersions of Flux kinds in files to the versions served today.

    Only the apiVersion line of each object changes; comments and formatting stay. Fields
    that a newer version no longer has are not rewritten: `kidp validate` names them.
    """
    from kidp_gitops.validate import migrate as files

    if not path.exists():
        raise CliError(f"{path}: no such file or directory", USAGE)
    wanted = tuple(
        e.strip() if e.strip().startswith(".") else f".{e.strip()}"
        for e in extensions.split(",")
        if e.strip()
    )
    changes, skipped = files.migrate(path, extensions=wanted, dry_run=dry_run)
    for change in changes:
        typer.echo(str(change))
    for skip in skipped:
        typer.echo(str(skip), err=True)
    touched = len({change.file for change in changes})
    verb = "would be rewritten" if dry_run else "rewritten"
    typer.echo(f"{len(changes)} objects in {touched} files {verb}", err=True)

"""Options shared by the commands that talk to a cluster (kubectl's names)."""

from __future__ import annotations

from typing import Annotated

import typer

Kubeconfig = Annotated[
    str | None,
    typer.Option("--kubeconfig", envvar="KUBECONFIG", help="Path to the kubeconfig file."),
]
Context = Annotated[str | None, typer.Option("--context", help="The kubeconfig context.")]
Namespace = Annotated[
    str, typer.Option("--namespace", "-n", help="The namespace of the GitOps objects.")
]

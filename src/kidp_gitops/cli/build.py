"""`kidp build kustomization NAME --path DIR`: print what the controller would apply
if the Kustomization's source held DIR, as a YAML stream (see `localbuild`).

    kidp build ks apps --path ./apps/staging                   Kustomization from the cluster
    kidp build ks apps --path ./apps/staging \\
        --kustomization-file ./clusters/staging/apps.yaml --dry-run    no cluster at all
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kidp_gitops.cli import completion, localbuild, output, session

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient

app = typer.Typer(
    help="Build GitOps objects locally, as the controllers would.", no_args_is_help=True
)

Name = Annotated[
    str, typer.Argument(help="The Kustomization's name.", autocompletion=completion.object_names)
]
LocalPath = Annotated[
    Path,
    typer.Option("--path", help="Local directory that stands for the Kustomization's spec.path."),
]
KustomizationFile = Annotated[
    Path | None,
    typer.Option(
        "--kustomization-file", help="Read the Kustomization from this file, not the cluster."
    ),
]
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="With --kustomization-file: no cluster (no substituteFrom, no decryption).",
    ),
]
NoRemoteBases = Annotated[
    bool,
    typer.Option("--no-remote-bases", help="Refuse remote bases, as the controller flag does."),
]


def kustomization(
    name: Name,
    path: LocalPath,
    kustomization_file: KustomizationFile = None,
    dry_run: DryRun = False,
    no_remote_bases: NoRemoteBases = False,
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Build a Kustomization from a local directory and print the objects."""
    target = session.Target(kubeconfig, context, namespace)
    allow_remote = not no_remote_bases

    async def online(client: KubeClient) -> list[localbuild.JSON]:
        obj = await localbuild.kustomization(client, name, namespace, kustomization_file)
        return await localbuild.render(client, obj, path, allow_remote_bases=allow_remote)

    async def offline() -> list[localbuild.JSON]:
        obj = await localbuild.kustomization(None, name, namespace, kustomization_file)
        return await localbuild.render(None, obj, path, allow_remote_bases=allow_remote)

    objects = asyncio.run(offline()) if dry_run else session.run(target, online)
    output.echo(output.dump_documents(objects))


app.command("kustomization")(kustomization)
app.command("ks", hidden=True)(kustomization)

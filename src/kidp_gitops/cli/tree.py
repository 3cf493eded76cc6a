"""`kidp tree kustomization NAME`: what a Kustomization applied, as a tree, following
the Kustomizations it applied (the app-of-apps pattern) down to their objects.

    Kustomization/flux-system/platform
    ├── Namespace/apps
    └── Kustomization/flux-system/apps
        └── Deployment/apps/web

The tree is read from `status.inventory` (the controller's record), so it shows what
was applied, not what Git holds now. `--compact` keeps only GitOps objects; `-o
json|yaml` prints the same tree as nested {kind, namespace, name, resources}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from kidp_gitops.cli import completion, output, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import kinds

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient

JSON = dict[str, Any]

app = typer.Typer(help="Show what GitOps objects applied, as a tree.", no_args_is_help=True)

Compact = Annotated[bool, typer.Option("--compact", help="Only GitOps objects.")]


async def build_tree(client: KubeClient, namespace: str, name: str, compact: bool) -> JSON:
    """The Kustomization and, recursively, its inventory (`views.tree.applied`)."""
    from kidp_gitops.views import tree

    async def fetch(ks_namespace: str, ks_name: str) -> JSON | None:
        try:
            return await session.get_object(client, kinds.KUSTOMIZATION, ks_namespace, ks_name)
        except CliError:
            return None

    ks = await session.get_object(client, kinds.KUSTOMIZATION, namespace, name)
    return await tree.applied(ks, fetch, compact=compact)


def kustomization(
    name: Annotated[
        str,
        typer.Argument(help="The Kustomization's name.", autocompletion=completion.object_names),
    ],
    compact: Compact = False,
    output_format: output.OutputFormat = output.Format.table,
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Print the objects a Kustomization applied, and theirs, as a tree."""
    target = session.Target(kubeconfig, context, namespace)

    async def work(client: KubeClient) -> JSON:
        return await build_tree(client, namespace, name, compact)

    applied = session.run(target, work)
    if output_format is output.Format.table:
        from kidp_gitops.views import tree

        output.echo("".join(line + "\n" for line in tree.render(applied)))
    else:
        output.echo(output.dump(applied, output_format))


app.command("kustomization")(kustomization)
app.command("ks", hidden=True)(kustomization)

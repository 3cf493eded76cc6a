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


def node(kind: str, namespace: str, name: str) -> JSON:
    return {"kind": kind, "namespace": namespace, "name": name, "resources": []}


async def build_tree(
    client: KubeClient, namespace: str, name: str, compact: bool, seen: set[str] | None = None
) -> JSON:
    """The Kustomization and, recursively, its inventory."""
    from kidp_gitops.kustomize import inventory

    seen = seen if seen is not None else set()
    seen.add(f"{namespace}/{name}")
    ks = await session.get_object(client, kinds.KUSTOMIZATION, namespace, name)
    root = node("Kustomization", namespace, name)
    for ref in inventory.from_status(ks.get("status") or {}):
        is_ks = ref.group == kinds.KUSTOMIZATION.group and ref.kind == kinds.KUSTOMIZATION.kind
        key = f"{ref.namespace}/{ref.name}"
        if is_ks and key not in seen:
            try:
                root["resources"].append(
                    await build_tree(client, ref.namespace, ref.name, compact, seen)
                )
                continue
            except CliError:  # gone meanwhile: show it as a leaf
                pass
        if compact and not kinds.is_ours(f"{ref.group}/{ref.version}"):
            continue
        root["resources"].append(node(ref.kind, ref.namespace, ref.name))
    return root


def _label(item: JSON) -> str:
    where = f"{item['namespace']}/" if item["namespace"] else ""
    return f"{item['kind']}/{where}{item['name']}"


def render(tree: JSON) -> list[str]:
    """The tree as lines with ├── / └── guides."""
    lines = [_label(tree)]

    def walk(children: list[JSON], prefix: str) -> None:
        for i, child in enumerate(children):
            last = i == len(children) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{_label(child)}")
            walk(child["resources"], prefix + ("    " if last else "│   "))

    walk(tree["resources"], "")
    return lines


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

    tree = session.run(target, work)
    if output_format is output.Format.table:
        output.echo("".join(line + "\n" for line in render(tree)))
    else:
        output.echo(output.dump(tree, output_format))


app.command("kustomization")(kustomization)
app.command("ks", hidden=True)(kustomization)

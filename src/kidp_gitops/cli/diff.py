"""`kidp diff kustomization NAME --path DIR`: what applying DIR would change, before
the change is merged. Exit 0: no differences; 1: differences; 2: the diff failed (as
`flux diff` documents it).

The local directory is rendered as the controller renders its artifact (`localbuild`),
then planned by the resource manager under the controller's policy (`views.diff`) — the
very plan the controller executes: a server-side dry run with its field manager, owner labels, `ssa`
and `force` annotations, protection and `spec.force`, compared with the live object. So
the diff shows exactly what the API server would store — defaults, admission and other
field managers included — and nothing of the noise (managedFields, resourceVersion,
status). An object whose immutable field changes is listed as recreated (when `force`
allows it); a protected object that differs is listed as protected, and left as it is.
Secret values are never printed: a changed value shows as `****** (changed)`. With
`spec.prune`, objects of the inventory that the directory no longer holds are listed as
deleted. Exit 1 means the controller would write: created, drifted, recreated, deleted.

    ► Deployment/shop/web drifted
    --- live
    +++ merged
    @@ -9 +9 @@
    -  replicas: 1
    +  replicas: 3
    ► ConfigMap/shop/web-env created
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from kidp_gitops.cli import build, completion, localbuild, output, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import kinds
from kidp_gitops.views.errors import ViewError

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient
    from kidp_gitops.views.diff import Change

FAILED = 2

app = typer.Typer(help="Show what a local change would do to the cluster.", no_args_is_help=True)


def show(changes: list[Change]) -> None:
    console = output.stdout()
    for change in changes:
        if change.action in ("unchanged", "skipped"):
            continue
        console.print(Text.assemble(("► ", "blue"), f"{change.id} {change.action}"))
        for line in change.diff:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
            console.print(Text(line, style=style))


def kustomization(
    name: Annotated[
        str,
        typer.Argument(help="The Kustomization's name.", autocompletion=completion.object_names),
    ],
    path: build.LocalPath,
    kustomization_file: build.KustomizationFile = None,
    no_remote_bases: build.NoRemoteBases = False,
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Diff a local directory against what a Kustomization applied (server-side dry run).

    Exits 0 when nothing would change, 1 when something would, 2 on errors."""
    target = session.Target(kubeconfig, context, namespace)

    from kidp_gitops.views import diff

    async def work(client: KubeClient) -> list[Change]:
        from kidp_gitops.kube import RestMapper

        ks = await localbuild.kustomization(client, name, namespace, kustomization_file)
        objects = await localbuild.render(client, ks, path, allow_remote_bases=not no_remote_bases)
        mapper = RestMapper(client)
        await mapper.refresh()
        live = ks
        if kustomization_file is not None:  # the inventory is on the cluster's object
            try:
                live = await session.get_object(client, kinds.KUSTOMIZATION, namespace, name)
            except CliError:
                live = ks
        return await diff.planned(client, mapper, ks, objects) + diff.pruned(live, objects)

    try:
        changes = session.run(target, work)
    except (CliError, ViewError) as err:
        raise CliError(str(err), exit_code=FAILED) from err
    show(changes)
    if any(c.action in diff.CHANGES for c in changes):
        raise typer.Exit(1)


app.command("kustomization")(kustomization)
app.command("ks", hidden=True)(kustomization)

"""Commands made once per kind, as flux spells them: `kidp suspend source git`,
`kidp suspend kustomization` (alias `ks`), `kidp suspend helmrelease` (alias `hr`).

    Name, All       the argument and the flag that pick the objects: NAME or --all
    objects         the named object, or every object of the kind where the command acts
    selecting       a command of NAME | --all and the cluster flags, that calls `act`
    add_commands    puts the command a factory makes for each kind under the kind's names

A command group writes one factory, `make(kind) -> command`, and lets `add_commands`
place it; the objects it acts on come from `objects`, so `suspend`, `resume` and
`export` pick them the same way and say the same thing when the choice is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kidp_gitops.cli import completion, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import kinds

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient

JSON = dict[str, Any]
Command = Callable[..., None]

Name = Annotated[
    str | None,
    typer.Argument(help="The object's name (or --all).", autocompletion=completion.object_names),
]
All = Annotated[
    bool, typer.Option("--all", help="Every object of the kind in the namespace (-A: all).")
]

# The appliers and the names their commands answer to; the first is the one --help lists.
APPLIERS: tuple[tuple[kinds.Kind, tuple[str, ...]], ...] = (
    (kinds.KUSTOMIZATION, ("kustomization", "ks")),
    (kinds.HELM_RELEASE, ("helmrelease", "hr")),
)


Act = Callable[[session.Target, str | None, bool], None]


def selecting(act: Act, doc: str) -> Command:
    """A command taking NAME | --all and the cluster flags (-n, -A, --kubeconfig,
    --context) that runs `act(target, name, every)`; `doc` is its help."""

    def command(
        name: Name = None,
        every: All = False,
        namespace: session.Namespace = session.DEFAULT_NAMESPACE,
        all_namespaces: session.AllNamespaces = False,
        kubeconfig: session.Kubeconfig = None,
        context: session.Context = None,
    ) -> None:
        act(session.Target(kubeconfig, context, namespace, all_namespaces), name, every)

    command.__doc__ = doc
    return command


def source_command_name(kind: kinds.Kind) -> str:
    """`git` for GitRepository, `helm` for HelmRepository, `chart` for HelmChart: the
    word after `source`."""
    if kind is kinds.HELM_CHART:
        return "chart"
    if kind is kinds.EXTERNAL_ARTIFACT:
        return "external"
    return kind.kind.removesuffix("Repository").lower()


def add_commands(
    app: typer.Typer,
    make: Callable[[kinds.Kind], Command],
    *,
    source_app: typer.Typer | None = None,
    sources: Sequence[kinds.Kind] = (kinds.GIT_REPOSITORY,),
) -> None:
    """`app source <git…>` and `app kustomization|ks`, `app helmrelease|hr`, each running
    the command `make` built for its kind. Without `source_app`, one is made with the
    help of `app`."""
    if source_app is None:
        source_app = typer.Typer(help=app.info.help, no_args_is_help=True)
        app.add_typer(source_app, name="source")
    for kind in sources:
        source_app.command(source_command_name(kind))(make(kind))
    for kind, names in APPLIERS:
        command = make(kind)
        for i, alias in enumerate(names):
            app.command(alias, hidden=i > 0)(command)


async def objects(
    client: KubeClient, kind: kinds.Kind, target: session.Target, name: str | None, every: bool
) -> list[JSON]:
    """The object `name`, or with `every` each object of the kind in the target's
    namespace (or all of them), sorted; a CliError when both or neither are asked for."""
    if every == bool(name):
        raise CliError("name one object, or pass --all (not both)")
    if name:
        return [await session.get_object(client, kind, target.namespace, name)]
    found, _ = await session.list_objects(client, kind, target.scope)
    return found

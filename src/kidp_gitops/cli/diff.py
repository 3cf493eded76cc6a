"""`kidp diff kustomization NAME --path DIR`: what applying DIR would change, before
the change is merged. Exit 0: no differences; 1: differences; 2: the diff failed (as
`flux diff` documents it).

The local directory is rendered as the controller renders its artifact (`localbuild`),
then planned by the resource manager under the controller's policy — the very plan the
controller executes: a server-side dry run with its field manager, owner labels, `ssa`
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

import copy
import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
import yaml
from rich.text import Text

from kidp_gitops.cli import build, completion, localbuild, output, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import kinds

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient, RestMapper

JSON = dict[str, Any]
Action = Literal["created", "drifted", "recreated", "unchanged", "deleted", "skipped", "protected"]
FAILED = 2
MASK = "******"

app = typer.Typer(help="Show what a local change would do to the cluster.", no_args_is_help=True)


@dataclass(frozen=True)
class Change:
    id: str
    action: Action
    diff: list[str] = field(default_factory=list)


def mask_secrets(live: JSON, merged: JSON) -> tuple[JSON, JSON]:
    """Secret values replaced: equal ones by the mask, changed ones marked changed."""
    if merged.get("kind") != "Secret" or merged.get("apiVersion") != "v1":
        return live, merged
    live, merged = copy.deepcopy(live), copy.deepcopy(merged)
    for key in ("data", "stringData"):
        before, after = live.get(key) or {}, merged.get(key) or {}
        for name in set(before) | set(after):
            changed = before.get(name) != after.get(name)
            if name in before:
                before[name] = MASK
            if name in after:
                after[name] = f"{MASK} (changed)" if changed and name in before else MASK
    return live, merged


def unified(live: JSON, merged: JSON) -> list[str]:
    """A unified diff of two objects' YAML; empty when they are equal."""
    from kidp_gitops.kube.compare import comparable

    live, merged = mask_secrets(comparable(live), comparable(merged))
    if live == merged:
        return []
    before = yaml.safe_dump(live, sort_keys=True).splitlines()
    after = yaml.safe_dump(merged, sort_keys=True).splitlines()
    return list(difflib.unified_diff(before, after, "live", "merged", n=2, lineterm=""))


STEPS: dict[str, Action] = {
    "create": "created",
    "update": "drifted",
    "recreate": "recreated",
    "unchanged": "unchanged",
    "skip": "skipped",
    "protected": "protected",
}
CHANGES = ("created", "drifted", "recreated", "deleted")
"""What the controller would do to the cluster: any of them makes the exit code 1."""


async def planned(
    client: KubeClient, mapper: RestMapper, ks: JSON, objects: list[JSON]
) -> list[Change]:
    """What the controller would do with `objects`: the resource manager's plan under the
    Kustomization's own policy (`spec.force` included), as the controller plans it."""
    from kidp_gitops.kube import KubeError
    from kidp_gitops.kustomize import apply

    manager = apply.manager(client, mapper, force=bool((ks.get("spec") or {}).get("force")))
    try:
        plans = await manager.plan(objects, ahead=True)
    except KubeError as err:
        raise CliError(str(err)) from err
    out = []
    for plan in plans:
        lines: list[str] = []
        if plan.live is not None and plan.dry is not None:
            lines = unified(plan.live, plan.dry)
            if plan.take_over or plan.taken:
                lines += [f"# {taken}" for taken in manager.policy.taken_over(plan.live)]
        elif plan.step == "recreate":
            lines = [f"# {plan.note}", "# deleted, then created again (force)"]
        out.append(Change(str(plan.ref), STEPS[plan.step], lines))
    return out


def pruned(ks: JSON, objects: list[JSON]) -> list[Change]:
    """What the controller would prune: in the inventory, no longer built."""
    from kidp_gitops.kustomize import inventory

    if not (ks.get("spec") or {}).get("prune"):
        return []
    previous = inventory.from_status(ks.get("status") or {})
    current = [inventory.ref_of(o) for o in objects]
    return [Change(str(r), "deleted") for r in inventory.stale(previous, current)]


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
        return await planned(client, mapper, ks, objects) + pruned(live, objects)

    try:
        changes = session.run(target, work)
    except CliError as err:
        raise CliError(str(err), exit_code=FAILED) from err
    show(changes)
    if any(c.action in CHANGES for c in changes):
        raise typer.Exit(1)


app.command("kustomization")(kustomization)
app.command("ks", hidden=True)(kustomization)

"""`kidp diff kustomization NAME --path DIR`: what applying DIR would change, before
the change is merged. Exit 0: no differences; 1: differences; 2: the diff failed (as
`flux diff` documents it).

The local directory is rendered as the controller renders its artifact (`localbuild`),
then each object is applied in a server-side dry run with the controller's field
manager, owner labels and `ssa` annotations; the dry-run result is compared with the
live object. So the diff shows exactly what the API server would store — defaults,
admission and other field managers included — and nothing of the noise (managedFields,
resourceVersion, status). Secret values are never printed: a changed value shows as
`****** (changed)`. With `spec.prune`, objects of the inventory that the directory no
longer holds are listed as deleted.

    ► Deployment/shop/web drifted
    --- live
    +++ merged
    @@ -9 +9 @@
    -  replicas: 1
    +  replicas: 3
    ► ConfigMap/shop/web-env created
"""

from __future__ import annotations

import asyncio
import copy
import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
import yaml
from rich.text import Text

from kidp_gitops.cli import build, completion, kinds, localbuild, output, session
from kidp_gitops.cli.errors import CliError

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient, RestMapper

JSON = dict[str, Any]
Action = Literal["created", "drifted", "unchanged", "deleted", "skipped"]
FAILED = 2
MASK = "******"
_NOISE = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")

app = typer.Typer(help="Show what a local change would do to the cluster.", no_args_is_help=True)


@dataclass(frozen=True)
class Change:
    id: str
    action: Action
    diff: list[str] = field(default_factory=list)


def comparable(obj: JSON) -> JSON:
    """The object without what the server manages by itself."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in _NOISE:
        meta.pop(key, None)
    return out


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
    live, merged = mask_secrets(comparable(live), comparable(merged))
    if live == merged:
        return []
    before = yaml.safe_dump(live, sort_keys=True).splitlines()
    after = yaml.safe_dump(merged, sort_keys=True).splitlines()
    return list(difflib.unified_diff(before, after, "live", "merged", n=2, lineterm=""))


class Differ:
    """Dry-runs the built objects against the cluster, one Change each."""

    def __init__(self, client: KubeClient, mapper: RestMapper, objects: list[JSON]):
        self.client = client
        self.mapper = mapper
        self.objects = objects
        self._limit = asyncio.Semaphore(16)
        self._new_namespaces = {
            o["metadata"]["name"] for o in objects if o.get("kind") == "Namespace"
        }
        self._new_kinds = {
            (crd["spec"]["group"], crd["spec"]["names"]["kind"])
            for crd in objects
            if crd.get("kind") == "CustomResourceDefinition" and crd.get("spec")
        }

    async def changes(self) -> list[Change]:
        return list(await asyncio.gather(*(self._one(o) for o in self.objects)))

    async def _one(self, obj: JSON) -> Change:
        from kidp_gitops.kube import ApiError, UnknownKind
        from kidp_gitops.kustomize import inventory
        from kidp_gitops.kustomize.apply import FIELD_MANAGER, SSA

        ref = inventory.ref_of(obj)
        mode = ((obj.get("metadata") or {}).get("annotations") or {}).get(SSA) or "Override"
        if mode == "Ignore":
            return Change(str(ref), "skipped")
        async with self._limit:
            try:
                path = await self.mapper.path_for(obj)
            except UnknownKind:
                if (ref.group, ref.kind) in self._new_kinds:
                    return Change(str(ref), "created")  # its CRD comes with the same change
                raise
            live = await self._get(path)
            if live is not None and mode == "IfNotPresent":
                return Change(str(ref), "skipped")
            try:
                merged = await self.client.apply(
                    path, obj, field_manager=FIELD_MANAGER, force=True, dry_run=True
                )
            except ApiError as err:
                if live is None and err.not_found and ref.namespace in self._new_namespaces:
                    return Change(str(ref), "created")  # its Namespace comes with it
                raise CliError(f"{ref}: {err.message}") from err
        if live is None:
            return Change(str(ref), "created")
        lines = unified(live, merged)
        return Change(str(ref), "drifted" if lines else "unchanged", lines)

    async def _get(self, path: str) -> JSON | None:
        from kidp_gitops.kube import ApiError

        try:
            return await self.client.get(path)
        except ApiError as err:
            if err.not_found:
                return None
            raise


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
        return await Differ(client, mapper, objects).changes() + pruned(live, objects)

    try:
        changes = session.run(target, work)
    except CliError as err:
        raise CliError(str(err), exit_code=FAILED) from err
    show(changes)
    if any(c.action in ("created", "drifted", "deleted") for c in changes):
        raise typer.Exit(1)


app.command("kustomization")(kustomization)
app.command("ks", hidden=True)(kustomization)

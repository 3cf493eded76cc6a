"""`kidp uninstall`: remove kidp from a cluster and keep what it deployed.

In flux's order:

    1. (--delete-workloads only) delete every Kustomization and HelmRelease while the
       controllers still run, and wait: their finalizers prune what they applied
    2. delete the controllers (Deployments, Services, PodDisruptionBudgets: those of any
       install, and the shards' found by the install's labels)
    3. drop the finalizers of every GitOps object, so deleting them prunes nothing
    4. delete the CRDs (and with them every GitOps object)
    5. delete the RBAC, the service accounts and, unless --keep-namespace, the namespace

Workloads stay by default: they lose their owner, not their existence. `--dry-run`
prints what would be deleted.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kidp_gitops.cli import output, reconcile, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import kinds

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient, RestMapper

JSON = dict[str, Any]
_LAST = ("Namespace", "CustomResourceDefinition")
_CONTROLLERS = {
    "Deployment": ("apps/v1", "deployments"),
    "Service": ("v1", "services"),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets"),
}
"""What runs the controllers, by kind: (apiVersion, resource)."""


async def _delete(client: KubeClient, mapper: RestMapper, obj: JSON, dry_run: bool) -> bool:
    """Delete one install object; False when it was not there."""
    from kidp_gitops.kube import ApiError

    path = await mapper.path_for(obj)
    if dry_run:
        try:
            await client.get(path)
        except ApiError as err:
            if err.not_found:
                return False
            raise
        return True
    try:
        await client.delete(path, params={"propagationPolicy": "Background"})
    except ApiError as err:
        if err.not_found:
            return False
        raise
    return True


async def _labelled_controllers(
    client: KubeClient, namespace: str, known: list[JSON]
) -> list[JSON]:
    """The install's controller objects in `namespace` that no install makes by a name
    known beforehand: `--shards N`'s, found by the install's labels."""
    from kidp_gitops.install import manifests

    names = {(o["kind"], o["metadata"]["name"]) for o in known}
    found: list[JSON] = []
    for kind, (version, resource) in _CONTROLLERS.items():
        base = "/api/v1" if version == "v1" else f"/apis/{version}"
        listed = await client.list(
            f"{base}/namespaces/{namespace}/{resource}",
            {"labelSelector": manifests.selector(namespace)},
        )
        for item in listed["items"]:
            name = item["metadata"]["name"]
            if (kind, name) not in names:
                found.append(
                    {
                        "apiVersion": version,
                        "kind": kind,
                        "metadata": {"name": name, "namespace": namespace},
                    }
                )
    return found


async def _served_objects(client: KubeClient) -> list[tuple[kinds.Kind, JSON]]:
    found = []
    for kind in kinds.ALL:
        try:
            objects, _ = await session.list_objects(client, kind, None)
        except CliError:
            continue  # CRD already gone
        found += [(kind, o) for o in objects]
    return found


async def _delete_appliers(client: KubeClient, timeout: float, dry_run: bool) -> None:
    output.step("deleting Kustomizations and HelmReleases, pruning what they applied")
    appliers = [(k, o) for k, o in await _served_objects(client) if k in kinds.APPLIERS]
    for kind, obj in appliers:
        meta = obj["metadata"]
        output.step(f"deleting {kinds.object_id(obj)}")
        if not dry_run:
            await client.delete(kind.path(meta["namespace"], meta["name"]))
    deadline = time.monotonic() + timeout
    while not dry_run and any(k in kinds.APPLIERS for k, _ in await _served_objects(client)):
        if time.monotonic() > deadline:
            raise CliError(
                "Kustomizations or HelmReleases still finalizing: are controllers running?"
            )
        await asyncio.sleep(0.5)


async def _drop_finalizers(client: KubeClient, dry_run: bool) -> None:
    from kidp_gitops.kube import ApiError

    output.step("removing the finalizers of every GitOps object")
    for kind, obj in await _served_objects(client):
        meta = obj["metadata"]
        if not meta.get("finalizers"):
            continue
        if not dry_run:
            path = kind.path(meta["namespace"], meta["name"])
            try:
                await client.patch(path, {"metadata": {"finalizers": None}})
            except ApiError as err:
                if not err.not_found:
                    raise
        done = "finalizers would be removed" if dry_run else "finalizers removed"
        output.success(f"{kinds.object_id(obj)} {done}")


def uninstall(
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    keep_namespace: Annotated[
        bool, typer.Option("--keep-namespace", help="Leave the namespace in place.")
    ] = False,
    delete_workloads: Annotated[
        bool,
        typer.Option(
            "--delete-workloads",
            help="First delete Kustomizations and HelmReleases so their objects are pruned.",
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would go.")] = False,
    silent: Annotated[bool, typer.Option("--silent", "-s", help="Do not ask.")] = False,
    timeout: reconcile.Timeout = reconcile.DEFAULT_TIMEOUT,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Remove kidp (controllers, CRDs, RBAC, namespace); keep the workloads."""
    from kidp_gitops.install import manifests
    from kidp_gitops.kube import RestMapper

    target = session.Target(kubeconfig, context, namespace)
    limit = reconcile.seconds(timeout)
    if not silent and not dry_run:
        what = "and everything its Kustomizations applied" if delete_workloads else ""
        if not typer.confirm(
            f"Uninstall kidp from the cluster {what}?".replace("  ", " "), err=True
        ):
            raise CliError("aborted: nothing deleted")
    install = manifests.every_install(namespace)
    controllers = [o for o in install if o["kind"] in _CONTROLLERS]
    crds = [o for o in install if o["kind"] == "CustomResourceDefinition"]
    rest = [o for o in install if o not in controllers and o not in crds]
    if keep_namespace:
        rest = [o for o in rest if o["kind"] != "Namespace"]
    verb = "would be deleted" if dry_run else "deleted"

    async def work(client: KubeClient) -> None:
        mapper = RestMapper(client)
        await mapper.refresh()
        if delete_workloads:
            await _delete_appliers(client, limit, dry_run)
        output.step("deleting the controllers")
        for obj in controllers + await _labelled_controllers(client, namespace, controllers):
            if await _delete(client, mapper, obj, dry_run):
                output.success(f"{kinds.object_id(obj)} {verb}")
        await _drop_finalizers(client, dry_run)
        output.step("deleting the custom resource definitions")
        for obj in crds:
            if await _delete(client, mapper, obj, dry_run):
                output.success(f"{kinds.object_id(obj)} {verb}")
        output.step("deleting RBAC, service accounts and the namespace")
        for obj in sorted(rest, key=lambda o: o["kind"] in _LAST):
            if await _delete(client, mapper, obj, dry_run):
                output.success(f"{kinds.object_id(obj)} {verb}")

    session.run(target, work)
    output.success("uninstall finished" if not dry_run else "dry run finished, nothing deleted")

"""`kidp delete source git | kustomization | helmrelease NAME`: delete a GitOps object,
after a confirmation unless `--silent`, as `flux delete` does.

Deleting a Kustomization with `prune: true` also deletes what it applied (the
controller's finalizer prunes them, per `spec.deletionPolicy`); the prompt says so.
`--wait` waits until the object, finalizer and all, is gone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kidp_gitops.cli import completion, output, reconcile, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import kinds

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient

JSON = dict[str, Any]

app = typer.Typer(help="Delete GitOps objects.", no_args_is_help=True)
source_app = typer.Typer(help="Delete sources.", no_args_is_help=True)
app.add_typer(source_app, name="source")

Name = Annotated[
    str, typer.Argument(help="The object's name.", autocompletion=completion.object_names)
]
Silent = Annotated[bool, typer.Option("--silent", "-s", help="Delete without asking.")]
Wait = Annotated[bool, typer.Option("--wait", help="Wait until the object is gone.")]


def _warning(kind: kinds.Kind, obj: JSON) -> str:
    spec = obj.get("spec") or {}
    if kind is kinds.KUSTOMIZATION and spec.get("prune") and spec.get("deletionPolicy") != "Orphan":
        return " and every object it applied (prune is on)"
    if kind is kinds.HELM_RELEASE:
        return " and uninstall its Helm release"
    return ""


def delete(
    kind: kinds.Kind, name: str, target: session.Target, silent: bool, wait: bool, timeout: str
) -> None:
    limit = reconcile.seconds(timeout)

    async def find(client: KubeClient) -> JSON:
        return await session.get_object(client, kind, target.namespace, name)

    obj = session.run(target, find)
    if not silent:
        question = f"Delete {kind.kind} '{target.namespace}/{name}'{_warning(kind, obj)}?"
        if not typer.confirm(question, default=False, err=True):
            raise CliError("aborted: nothing deleted")

    async def work(client: KubeClient) -> None:
        from kidp_gitops.kube import ApiError

        output.step(f"deleting {kind.kind} {name} in {target.namespace} namespace")
        path = kind.path(target.namespace, name)
        try:
            await client.delete(path)
        except ApiError as err:
            if not err.not_found:
                raise
        if wait:
            output.waiting(f"waiting for {kind.kind} {name} to be finalized")
            deadline = time.monotonic() + limit
            while await _exists(client, path):
                if time.monotonic() > deadline:
                    raise CliError(f"{kind.kind} '{target.namespace}/{name}' still exists")
                await asyncio.sleep(0.25)
        output.success(f"{kind.kind} deleted")

    session.run(target, work)


async def _exists(client: KubeClient, path: str) -> bool:
    from kidp_gitops.kube import ApiError

    try:
        await client.get(path)
    except ApiError as err:
        if err.not_found:
            return False
        raise
    return True


def _command(kind: kinds.Kind) -> Callable[..., None]:
    def command(
        name: Name,
        silent: Silent = False,
        wait: Wait = False,
        timeout: reconcile.Timeout = reconcile.DEFAULT_TIMEOUT,
        namespace: session.Namespace = session.DEFAULT_NAMESPACE,
        kubeconfig: session.Kubeconfig = None,
        context: session.Context = None,
    ) -> None:
        delete(kind, name, session.Target(kubeconfig, context, namespace), silent, wait, timeout)

    command.__doc__ = f"Delete a {kind.kind}."
    return command


source_app.command("git")(_command(kinds.GIT_REPOSITORY))
source_app.command("oci")(_command(kinds.OCI_REPOSITORY))
source_app.command("bucket")(_command(kinds.BUCKET))
for _kind, _names in (
    (kinds.KUSTOMIZATION, ("kustomization", "ks")),
    (kinds.HELM_RELEASE, ("helmrelease", "hr")),
):
    for _i, _alias in enumerate(_names):
        app.command(_alias, hidden=_i > 0)(_command(_kind))

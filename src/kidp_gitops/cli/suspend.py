"""`kidp suspend` / `kidp resume` `source git | kustomization | helmrelease`
`NAME | --all`: stop and restart reconciliation, as flux does.

Suspending sets `spec.suspend: true` (the controller then leaves the object and what
it applied alone). Resuming sets it back to false, requests a reconcile and, unless
`--no-wait`, waits for it like `kidp reconcile` (exit 1 when it fails).
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Annotated

import typer

from kidp_gitops.cli import output, perkind, reconcile, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import actions, kinds

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient

suspend_app = typer.Typer(
    help="Suspend the reconciliation of GitOps objects.", no_args_is_help=True
)
resume_app = typer.Typer(help="Resume the reconciliation of GitOps objects.", no_args_is_help=True)

Wait = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait for the resumed reconciliation.")
]


async def _names(
    client: KubeClient, kind: kinds.Kind, target: session.Target, name: str | None, every: bool
) -> list[tuple[str, str]]:
    """(namespace, name) of the objects the command acts on."""
    objs = await perkind.objects(client, kind, target, name, every)
    if not objs:
        where = "any namespace" if target.all_namespaces else f"{target.namespace} namespace"
        raise CliError(f"no {kind.kind} objects in {where}")
    return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objs]


def suspend(kind: kinds.Kind, target: session.Target, name: str | None, every: bool) -> None:
    async def work(client: KubeClient) -> None:
        for ns, obj_name in await _names(client, kind, target, name, every):
            output.step(f"suspending {kind.kind} {obj_name} in {ns} namespace")
            await actions.set_suspended(client, kind, ns, obj_name, True)
            output.success(f"{kind.kind} suspended")

    session.run(target, work)


def resume(
    kind: kinds.Kind,
    target: session.Target,
    name: str | None,
    every: bool,
    wait: bool,
    timeout: str,
) -> None:
    limit = reconcile.seconds(timeout)

    async def work(client: KubeClient) -> None:
        requests = []
        for ns, obj_name in await _names(client, kind, target, name, every):
            output.step(f"resuming {kind.kind} {obj_name} in {ns} namespace")
            await actions.set_suspended(client, kind, ns, obj_name, False)
            value = await reconcile.request(client, kind, ns, obj_name)
            output.success(f"{kind.kind} resumed")
            requests.append((ns, obj_name, value))
        if not wait:
            return
        output.waiting(f"waiting for {kind.kind} reconciliation")
        with output.spinner(f"waiting for {len(requests)} {kind.kind} reconciliation(s)"):
            done = await asyncio.gather(
                *(
                    reconcile.wait_handled(client, kind, ns, obj_name, value, limit)
                    for ns, obj_name, value in requests
                )
            )
        for obj in done:
            revision = kinds.revision(obj)
            verb = "fetched" if kind in kinds.SOURCES else "applied"
            output.success(f"{kinds.object_id(obj)} reconciliation completed")
            if revision:
                output.success(f"{verb} revision {revision}")

    session.run(target, work)


def _suspend_command(kind: kinds.Kind) -> perkind.Command:
    return perkind.selecting(
        functools.partial(suspend, kind), f"Suspend the reconciliation of {kind.kind} objects."
    )


def _resume_command(kind: kinds.Kind) -> perkind.Command:
    def command(
        name: perkind.Name = None,
        every: perkind.All = False,
        wait: Wait = True,
        timeout: reconcile.Timeout = reconcile.DEFAULT_TIMEOUT,
        namespace: session.Namespace = session.DEFAULT_NAMESPACE,
        all_namespaces: session.AllNamespaces = False,
        kubeconfig: session.Kubeconfig = None,
        context: session.Context = None,
    ) -> None:
        target = session.Target(kubeconfig, context, namespace, all_namespaces)
        resume(kind, target, name, every, wait, timeout)

    command.__doc__ = f"Resume the reconciliation of {kind.kind} objects."
    return command


_SOURCES = (kinds.GIT_REPOSITORY, kinds.OCI_REPOSITORY, kinds.BUCKET)
perkind.add_commands(suspend_app, _suspend_command, sources=_SOURCES)
perkind.add_commands(resume_app, _resume_command, sources=_SOURCES)

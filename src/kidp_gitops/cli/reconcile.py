"""`kidp reconcile source git|helm|chart | kustomization | helmrelease NAME`: reconcile now.

As flux does it: set the annotation `reconcile.fluxcd.io/requestedAt` to a fresh
timestamp, then wait until the controller reports that very value back in
`status.lastHandledReconcileAt`, and read the Ready condition it left. Ready=True exits
0 with the revision fetched or applied; Ready=False exits 1 with the controller's
message. `--with-source` first reconciles the source the object reads from, so a commit
pushed a second ago is fetched, then applied.

`request_and_wait` is shared with `kidp resume`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kidp_gitops.cli import completion, output, perkind, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import actions, kinds

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient

JSON = dict[str, Any]
DEFAULT_TIMEOUT = "5m"

app = typer.Typer(help="Reconcile GitOps objects now.", no_args_is_help=True)
source_app = typer.Typer(help="Reconcile sources now.", no_args_is_help=True)
app.add_typer(source_app, name="source")

Name = Annotated[
    str, typer.Argument(help="The object's name.", autocompletion=completion.object_names)
]
Timeout = Annotated[str, typer.Option("--timeout", help="How long to wait for the reconciliation.")]
WithSource = Annotated[
    bool, typer.Option("--with-source", help="Reconcile the object's source first.")
]


def seconds(value: str, flag: str = "--timeout") -> float:
    from kidp_gitops.api.meta import Duration

    try:
        return Duration(value).seconds
    except ValueError as err:
        raise CliError(f"{flag}: {err}") from err


async def request(client: KubeClient, kind: kinds.Kind, namespace: str, name: str) -> str:
    """Annotate the object (`views.actions`); returns the value to wait for."""
    from kidp_gitops.kube import ApiError

    try:
        return await actions.request_reconcile(client, kind, namespace, name)
    except ApiError as err:
        if err.not_found:
            raise CliError(f"{kind.kind} '{namespace}/{name}' not found") from err
        raise


async def wait_handled(
    client: KubeClient, kind: kinds.Kind, namespace: str, name: str, value: str, timeout: float
) -> JSON:
    """Until the controller handled the request `value` and left a final Ready
    condition; the object then. Ready=False is a CliError with the controller's words."""
    import asyncio  # loaded already (this runs in a loop); not at the top: TAB completion

    deadline = time.monotonic() + timeout
    while True:
        obj = await session.get_object(client, kind, namespace, name)
        status = obj.get("status") or {}
        handled = status.get("lastHandledReconcileAt") == value
        current = status.get("observedGeneration") == obj["metadata"].get("generation")
        ready = kinds.condition(obj)
        if handled and current and ready.get("status") == "True":
            return obj
        if handled and current and ready.get("status") == "False":
            reason = f" ({ready['reason']})" if ready.get("reason") else ""
            raise CliError(
                f"{kind.kind} '{namespace}/{name}' reconciliation failed{reason}: "
                f"{ready.get('message', '')}".rstrip(": ")
            )
        if time.monotonic() > deadline:
            from kidp_gitops.api.meta import Duration

            what = "handled" if handled else "picked up by a controller (is one running?)"
            raise CliError(
                f"timed out after {Duration.from_seconds(timeout)}: the reconcile request of "
                f"{kind.kind} '{namespace}/{name}' was not {what}"
            )
        await asyncio.sleep(0.25)


async def request_and_wait(
    client: KubeClient, kind: kinds.Kind, namespace: str, name: str, timeout: float
) -> JSON:
    """Reconcile one object now, saying so on stderr; returns it, reconciled."""
    obj = await session.get_object(client, kind, namespace, name)
    if kinds.suspended(obj):
        raise CliError(
            f"{kind.kind} '{namespace}/{name}' is suspended: resume it first "
            f"(kidp resume {_words(kind)} {name} -n {namespace})"
        )
    output.step(f"annotating {kind.kind} {name} in {namespace} namespace")
    value = await request(client, kind, namespace, name)
    output.success(f"{kind.kind} annotated")
    output.waiting(f"waiting for {kind.kind} reconciliation")
    with output.spinner(f"waiting for {kind.kind} {namespace}/{name}"):
        done = await wait_handled(client, kind, namespace, name, value, timeout)
    verb = "fetched" if kind in kinds.SOURCES else "applied"
    revision = kinds.revision(done)
    output.success(f"{verb} revision {revision}" if revision else f"{kind.kind} reconciled")
    return done


def _words(kind: kinds.Kind) -> str:
    """How the commands name the kind: `source git`, `kustomization`."""
    if kind in kinds.SOURCES:
        return f"source {perkind.source_command_name(kind)}"
    return kind.kind.lower()


def _reconcile(
    kind: kinds.Kind, name: str, target: session.Target, timeout: str, with_source: bool
) -> None:
    limit = seconds(timeout)

    async def work(client: KubeClient) -> None:
        if with_source:
            obj = await session.get_object(client, kind, target.namespace, name)
            source_kind, source_ns, source_name = actions.source_of(obj)
            if source_kind is kinds.EXTERNAL_ARTIFACT:
                # Nothing reconciles an ExternalArtifact itself: its generator does.
                artifact = await session.get_object(client, source_kind, source_ns, source_name)
                source_kind, source_ns, source_name = actions.producer_of(artifact)
            await request_and_wait(client, source_kind, source_ns, source_name, limit)
        await request_and_wait(client, kind, target.namespace, name, limit)

    session.run(target, work)


# What each command does, in its --help.
_DOCS = {
    kinds.GIT_REPOSITORY: (
        "Fetch the GitRepository's ref now and publish a new artifact if it moved."
    ),
    kinds.HELM_REPOSITORY: (
        "Fetch the HelmRepository's index now and publish a new artifact if it changed."
    ),
    kinds.OCI_REPOSITORY: (
        "Resolve the OCIRepository's ref now and publish a new artifact if its digest moved."
    ),
    kinds.BUCKET: "List the Bucket now and publish a new artifact if its objects changed.",
    kinds.HELM_CHART: "Build the HelmChart now (with --with-source, after reconciling its source).",
    kinds.KUSTOMIZATION: "Build and apply the Kustomization now.",
    kinds.HELM_RELEASE: "Reconcile the HelmRelease now.",
}


def _make(kind: kinds.Kind) -> perkind.Command:
    """`reconcile` for one kind; --with-source where the kind reads from a source."""

    def command(
        name: Name,
        with_source: WithSource = False,
        namespace: session.Namespace = session.DEFAULT_NAMESPACE,
        timeout: Timeout = DEFAULT_TIMEOUT,
        kubeconfig: session.Kubeconfig = None,
        context: session.Context = None,
    ) -> None:
        target = session.Target(kubeconfig, context, namespace)
        _reconcile(kind, name, target, timeout, with_source)

    def sourceless(
        name: Name,
        namespace: session.Namespace = session.DEFAULT_NAMESPACE,
        timeout: Timeout = DEFAULT_TIMEOUT,
        kubeconfig: session.Kubeconfig = None,
        context: session.Context = None,
    ) -> None:
        command(name, False, namespace, timeout, kubeconfig, context)

    made = command if kind in (kinds.HELM_CHART, *kinds.APPLIERS) else sourceless
    made.__doc__ = _DOCS[kind]
    return made


perkind.add_commands(
    app,
    _make,
    source_app=source_app,
    sources=(
        kinds.GIT_REPOSITORY,
        kinds.OCI_REPOSITORY,
        kinds.BUCKET,
        kinds.HELM_REPOSITORY,
        kinds.HELM_CHART,
    ),
)

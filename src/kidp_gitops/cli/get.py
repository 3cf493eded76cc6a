"""`kidp get sources git|helm|chart | kustomizations | helmreleases | all`: the status of GitOps
objects, as `flux get` prints it (NAME, REVISION, SUSPENDED, READY, MESSAGE) plus AGE.

    kidp get kustomizations                 in flux-system
    kidp get ks -A --status-selector ready=false
    kidp get sources git podinfo -o json    rows for scripts
    kidp get all -n apps --watch            keep printing rows as they change

With `-o json|yaml` the output is a list of rows (kind, namespace, name, revision,
suspended, ready, reason, message, created), the same fields the table shows.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from kidp_gitops.cli import completion, output, perkind, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import kinds, times

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient

JSON = dict[str, Any]

app = typer.Typer(help="Get the status of GitOps objects.", no_args_is_help=True)
sources_app = typer.Typer(help="Get the status of sources.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.add_typer(sources_app, name="source", hidden=True)

Name = Annotated[
    str | None,
    typer.Argument(help="One object; all when omitted.", autocompletion=completion.object_names),
]
Watch = Annotated[
    bool, typer.Option("--watch", "-w", help="After listing, print rows as objects change.")
]
WatchTimeout = Annotated[
    str | None,
    typer.Option(
        "--watch-timeout", help="With --watch: stop after this long (e.g. 5m); never when unset."
    ),
]
StatusSelector = Annotated[
    str | None,
    typer.Option(
        "--status-selector", help="Only objects whose condition has this status, e.g. ready=false."
    ),
]
LabelSelector = Annotated[
    str | None, typer.Option("--label-selector", "-l", help="Filter objects by label selector.")
]
NoHeader = Annotated[bool, typer.Option("--no-header", help="Print the table without header.")]


def row(obj: JSON) -> JSON:
    """What `get` shows of an object."""
    meta = obj["metadata"]
    ready = kinds.condition(obj)
    message = ready.get("message", "")
    if not ready:
        message = "waiting to be reconciled"
    if kinds.suspended(obj) and not message:
        message = "suspended"
    return {
        "kind": obj.get("kind", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta["name"],
        "revision": kinds.revision(obj),
        "suspended": kinds.suspended(obj),
        "ready": ready.get("status", "Unknown"),
        "reason": ready.get("reason", ""),
        "message": message,
        "created": meta.get("creationTimestamp", ""),
    }


def _cells(r: JSON, *, namespaced: bool, kind_prefix: bool) -> list[str | Text]:
    name = f"{r['kind'].lower()}/{r['name']}" if kind_prefix else r["name"]
    cells: list[str | Text] = [r["namespace"]] if namespaced else []
    cells += [
        name,
        r["revision"],
        str(r["suspended"]),
        output.status_text(r["ready"]),
        r["message"].replace("\n", " "),
        times.age(r["created"]),
    ]
    return cells


def _columns(namespaced: bool) -> list[str]:
    head = ["NAMESPACE"] if namespaced else []
    return [*head, "NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE", "AGE"]


def _selected(obj: JSON, selector: str | None) -> bool:
    if not selector:
        return True
    type_, _, wanted = selector.partition("=")
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type", "").lower() == type_.strip().lower():
            return str(cond.get("status", "")).lower() == wanted.strip().lower()
    return False


def _check_selector(selector: str | None) -> None:
    if selector and "=" not in selector:
        raise CliError(f"--status-selector {selector!r}: write condition=status, e.g. ready=false")


async def _collect(
    client: KubeClient,
    wanted: list[kinds.Kind],
    target: session.Target,
    name: str | None,
    label_selector: str | None,
    quiet_missing: bool,
) -> list[tuple[kinds.Kind, list[JSON], str]]:
    found = []
    for kind in wanted:
        if name:
            objs = [await session.get_object(client, kind, target.namespace, name)]
            version = objs[0]["metadata"].get("resourceVersion", "")
        else:
            try:
                objs, version = await session.list_objects(
                    client, kind, target.scope, label_selector
                )
            except CliError:
                if quiet_missing:  # `get all`: a kind the cluster does not serve
                    continue
                raise
        found.append((kind, objs, version))
    if not found:  # `get all` and not one kind is served
        raise CliError("the cluster serves none of kidp's kinds: is kidp installed? (kidp install)")
    return found


def show(
    wanted: list[kinds.Kind],
    target: session.Target,
    *,
    name: str | None = None,
    fmt: output.Format = output.Format.table,
    watch: bool = False,
    watch_timeout: str | None = None,
    status_selector: str | None = None,
    label_selector: str | None = None,
    header: bool = True,
    everything: bool = False,
) -> None:
    """List (or get) the objects of `wanted` kinds and print them; then watch."""
    _check_selector(status_selector)
    limit = _seconds(watch_timeout)

    async def work(client: KubeClient) -> None:
        found = await _collect(client, wanted, target, name, label_selector, everything)
        rows: list[JSON] = []
        for kind, objs, _ in found:
            kind_rows = [row(o) for o in objs if _selected(o, status_selector)]
            rows += kind_rows
            if fmt is output.Format.table and (kind_rows or not everything):
                _print_kind(kind, kind_rows, target, everything, header)
        if fmt is not output.Format.table:
            output.echo(output.dump(rows, fmt))
        elif not rows and not watch:
            where = "any namespace" if target.all_namespaces else f"{target.namespace} namespace"
            output.warning(f"no objects found in {where}")
        if watch:
            await _watch(client, found, target, name, fmt, status_selector, everything, limit)

    session.run(target, work)


def _print_kind(
    kind: kinds.Kind, rows: list[JSON], target: session.Target, everything: bool, header: bool
) -> None:
    if not rows:
        return
    cells = [_cells(r, namespaced=target.all_namespaces, kind_prefix=everything) for r in rows]
    output.print_table(_columns(target.all_namespaces), cells, header=header)
    if everything:
        output.stdout().print()


async def _watch(
    client: KubeClient,
    found: list[tuple[kinds.Kind, list[JSON], str]],
    target: session.Target,
    name: str | None,
    fmt: output.Format,
    status_selector: str | None,
    everything: bool,
    limit: float | None,
) -> None:
    from kidp_gitops.kube import ApiError

    async def follow(kind: kinds.Kind, version: str) -> None:
        params = {"watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true"}
        if name:
            params["fieldSelector"] = f"metadata.name={name}"
        path = kind.path(target.namespace if name else target.scope)
        async for event in client.stream(path, params, read_timeout=3600):
            obj = event.get("object") or {}
            if event.get("type") == "ERROR":
                raise CliError(f"the watch of {kind.plural} ended: {obj.get('message', '')}")
            if event.get("type") == "BOOKMARK":
                continue
            obj.setdefault("kind", kind.kind)
            if not _selected(obj, status_selector):
                continue
            r = row(obj)
            if fmt is output.Format.table:
                cells = _cells(r, namespaced=target.all_namespaces, kind_prefix=everything)
                output.print_table(_columns(target.all_namespaces), [cells], header=False)
            else:
                output.echo(json.dumps({"event": event.get("type"), **r}) + "\n")

    watches = asyncio.gather(*(follow(kind, version) for kind, _, version in found))
    try:
        await asyncio.wait_for(watches, limit)
    except TimeoutError:
        return
    except ApiError as err:
        if err.gone:
            raise CliError("the watch expired; run the command again") from err
        raise


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    from kidp_gitops.api.meta import Duration

    try:
        return Duration(value).seconds
    except ValueError as err:
        raise CliError(f"--watch-timeout: {err}") from err


# ---- the commands ------------------------------------------------------------------------


def _command(kind: kinds.Kind) -> perkind.Command:
    """The `get` command of one kind: NAME (or every object), the filters and the output."""

    def command(
        name: Name = None,
        namespace: session.Namespace = session.DEFAULT_NAMESPACE,
        all_namespaces: session.AllNamespaces = False,
        output_format: output.OutputFormat = output.Format.table,
        watch: Watch = False,
        watch_timeout: WatchTimeout = None,
        status_selector: StatusSelector = None,
        label_selector: LabelSelector = None,
        no_header: NoHeader = False,
        kubeconfig: session.Kubeconfig = None,
        context: session.Context = None,
    ) -> None:
        show(
            [kind],
            session.Target(kubeconfig, context, namespace, all_namespaces),
            name=name,
            fmt=output_format,
            watch=watch,
            watch_timeout=watch_timeout,
            status_selector=status_selector,
            label_selector=label_selector,
            header=not no_header,
        )

    command.__doc__ = f"Get {kind.kind} statuses."
    return command


@app.command("all")
def all_objects(
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    all_namespaces: session.AllNamespaces = False,
    output_format: output.OutputFormat = output.Format.table,
    watch: Watch = False,
    watch_timeout: WatchTimeout = None,
    status_selector: StatusSelector = None,
    label_selector: LabelSelector = None,
    no_header: NoHeader = False,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Get the status of every GitOps object: sources, appliers, notifications, images."""
    target = session.Target(kubeconfig, context, namespace, all_namespaces)
    show(
        list(kinds.ALL),
        target,
        fmt=output_format,
        watch=watch,
        watch_timeout=watch_timeout,
        status_selector=status_selector,
        label_selector=label_selector,
        header=not no_header,
        everything=True,
    )


sources_app.command("git")(_command(kinds.GIT_REPOSITORY))
sources_app.command("helm")(_command(kinds.HELM_REPOSITORY))
sources_app.command("chart")(_command(kinds.HELM_CHART))
sources_app.command("oci")(_command(kinds.OCI_REPOSITORY))
sources_app.command("bucket")(_command(kinds.BUCKET))
sources_app.command("external")(_command(kinds.EXTERNAL_ARTIFACT))
# The plural is the name --help lists; flux also answers to the singular and the short name.
for _kind, _names in (
    (kinds.KUSTOMIZATION, ("kustomizations", "kustomization", "ks")),
    (kinds.HELM_RELEASE, ("helmreleases", "helmrelease", "hr")),
    (kinds.ARTIFACT_GENERATOR, ("artifactgenerators", "artifactgenerator", "ag")),
):
    _get = _command(_kind)
    for _i, _alias in enumerate(_names):
        app.command(_alias, hidden=_i > 0)(_get)

"""`kidp events [--for Kind/name]`: the Kubernetes events of GitOps objects, oldest
first, as `flux events` lists them (LAST SEEN, TYPE, REASON, OBJECT, MESSAGE).

Without `--for`, every event about one of kidp's kinds in the namespace (or all with
`-A`). With `--for Kustomization/apps` (or `--for Kustomization` for every one of
them), the object's events and those of the source it reads from, since a failing
fetch is usually why an applier failed.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from kidp_gitops.api import kinds as api_kinds
from kidp_gitops.cli import kinds, output, reconcile, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.kube import KubeClient

JSON = dict[str, Any]

For = Annotated[
    str | None,
    typer.Option("--for", help="Only this object (Kind/name) or kind (Kind) and its source."),
]
Types = Annotated[
    list[str] | None,
    typer.Option("--types", help="Only events of these types: Normal, Warning (repeatable)."),
]


def _when(event: JSON) -> str:
    return str(
        event.get("lastTimestamp")
        or (event.get("series") or {}).get("lastObservedTime")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )


def _ours(event: JSON) -> bool:
    involved = event.get("involvedObject") or {}
    return api_kinds.is_ours(str(involved.get("apiVersion", "")))


Wanted = set[tuple[str, str | None, str]]


def _about(event: JSON, wanted: Wanted) -> bool:
    """Whether the event is about one of `wanted` (kind, namespace, name); an empty
    name matches every object of the kind, no namespace every namespace."""
    involved = event.get("involvedObject") or {}
    kind, ns, name = involved.get("kind"), involved.get("namespace"), involved.get("name")
    return any(k == kind and n in (None, ns) and m in ("", name) for k, n, m in wanted)


async def _related(client: KubeClient, ref: kinds.Ref, target: session.Target) -> Wanted:
    """The object of `--for`, plus its source when it is an applier."""
    namespace = target.namespace
    wanted: Wanted = {(ref.kind.kind, None if target.all_namespaces else namespace, ref.name)}
    if ref.name and ref.kind in kinds.APPLIERS:
        obj = await session.get_object(client, ref.kind, namespace, ref.name)
        try:
            source_kind, source_ns, source_name = reconcile.source_of(obj)
        except CliError:
            return wanted
        wanted.add((source_kind.kind, source_ns, source_name))
    return wanted


def rows(events: list[JSON]) -> list[JSON]:
    out = []
    for event in sorted(events, key=_when):
        involved = event.get("involvedObject") or {}
        out.append(
            {
                "lastSeen": _when(event),
                "type": event.get("type", ""),
                "reason": event.get("reason", ""),
                "object": f"{involved.get('kind')}/{involved.get('name')}",
                "namespace": involved.get("namespace") or event["metadata"].get("namespace"),
                "message": str(event.get("message", "")).strip(),
                "count": event.get("count") or 1,
            }
        )
    return out


def events(
    for_: For = None,
    types: Types = None,
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    all_namespaces: session.AllNamespaces = False,
    output_format: output.OutputFormat = output.Format.table,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Show the events of GitOps objects."""
    target = session.Target(kubeconfig, context, namespace, all_namespaces)
    ref = kinds.parse_ref(for_, name_required=False) if for_ else None
    if ref is not None and ref.namespace:
        target = session.Target(kubeconfig, context, ref.namespace, all_namespaces)
    wanted_types = {t.lower() for t in types or []}
    unknown = sorted(wanted_types - {"normal", "warning"})
    if unknown:
        raise CliError(f"--types {unknown[0]!r}: expected Normal or Warning")

    async def work(client: KubeClient) -> list[JSON]:
        wanted = await _related(client, ref, target) if ref else None
        if target.all_namespaces:
            paths = ["/api/v1/events"]
        else:
            spaces = {ns or target.namespace for _, ns, _ in wanted or {("", None, "")}}
            paths = [f"/api/v1/namespaces/{ns}/events" for ns in sorted(spaces)]
        found = []
        for path in paths:
            for event in (await client.list(path)).get("items") or []:
                if wanted is not None and not _about(event, wanted):
                    continue
                if wanted is None and not _ours(event):
                    continue
                if wanted_types and str(event.get("type", "")).lower() not in wanted_types:
                    continue
                found.append(event)
        return found

    found = rows(session.run(target, work))
    if output_format is not output.Format.table:
        output.echo(output.dump(found, output_format))
        return
    if not found:
        output.warning("no events found")
        return
    columns = ["NAMESPACE"] if target.all_namespaces else []
    columns += ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    cells = []
    for r in found:
        row: list[Any] = [r["namespace"]] if target.all_namespaces else []
        seen = output.age(r["lastSeen"])
        if r["count"] > 1:
            seen = f"{seen} (x{r['count']})"
        kind_style = "red" if r["type"] == "Warning" else ""
        row += [seen, Text(r["type"], style=kind_style), r["reason"], r["object"]]
        row.append(r["message"])
        cells.append(row)
    output.print_table(columns, cells)

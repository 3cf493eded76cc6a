"""`kidp events [--for Kind/name] [--watch]`: the Kubernetes events of GitOps objects,
oldest first, as `flux events` lists them (LAST SEEN, TYPE, REASON, OBJECT, MESSAGE).

Without `--for`, every event about one of kidp's kinds in the namespace (or all with
`-A`). With `--for Kustomization/apps` (or `--for Kustomization` for every one of
them), the object's events and those of the source it reads from, since a failing
fetch is usually why an applier failed.

With `--watch`, the listing is followed by each new event as it happens (the same
filter, one row a line; `-o json` prints one JSON object a line, `-o yaml` one
document each), until Ctrl-C, which exits 0. An event that repeats (its count goes
up) is shown again; the watch resumes by itself when the API server ends it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from kidp_gitops.cli import output, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import actions, kinds, times
from kidp_gitops.views import events as view_events
from kidp_gitops.views.errors import ViewError

if TYPE_CHECKING:
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
Watch = Annotated[
    bool,
    typer.Option(
        "--watch", "-w", help="After the listing, stream new events as they happen (Ctrl-C ends)."
    ),
]

# A watch the API server keeps open this long, then ends; we start the next one.
_WATCH_SECONDS = 300


async def _related(
    client: KubeClient, ref: kinds.Ref, target: session.Target
) -> view_events.Wanted:
    """The object of `--for`, plus its source when it is an applier."""
    namespace = target.namespace
    scope = None if target.all_namespaces else namespace
    wanted: view_events.Wanted = {(ref.kind.kind, scope, ref.name)}
    if ref.name and ref.kind in kinds.APPLIERS:
        obj = await session.get_object(client, ref.kind, namespace, ref.name)
        try:
            source_kind, source_ns, source_name = actions.source_of(obj)
        except ViewError:
            return wanted
        wanted.add((source_kind.kind, source_ns, source_name))
    return wanted


@dataclass(frozen=True)
class Filter:
    """Which events a listing or a watch shows, and where it reads them."""

    wanted: view_events.Wanted | None  # None: every event about one of kidp's kinds
    types: frozenset[str]
    paths: tuple[str, ...]

    def __call__(self, event: JSON) -> bool:
        if self.wanted is not None and not view_events.is_about(event, self.wanted):
            return False
        if self.wanted is None and not view_events.is_ours(event):
            return False
        return not self.types or str(event.get("type", "")).lower() in self.types


async def _filter(
    client: KubeClient, ref: kinds.Ref | None, types: set[str], target: session.Target
) -> Filter:
    wanted = await _related(client, ref, target) if ref else None
    if target.all_namespaces:
        paths = ["/api/v1/events"]
    else:
        spaces = {ns or target.namespace for _, ns, _ in wanted or {("", None, "")}}
        paths = [f"/api/v1/namespaces/{ns}/events" for ns in sorted(spaces)]
    return Filter(wanted, frozenset(types), tuple(paths))


@dataclass
class _Printer:
    """Prints each event a watch delivers once: a repeated delivery (a resumed watch,
    a relist) prints nothing, a repeated event (its count went up) prints again."""

    show: Callable[[JSON], None]
    seen: dict[str, tuple[Any, str]] = field(default_factory=dict)

    def offer(self, event: JSON, *, quiet: bool = False) -> None:
        meta = event.get("metadata") or {}
        key = str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")
        version = (event.get("count"), view_events.event_time(event))
        if self.seen.get(key) == version:
            return
        self.seen[key] = version
        if not quiet:
            self.show(event)


async def _list(client: KubeClient, where: Filter) -> tuple[list[JSON], dict[str, str]]:
    """The events `where` selects, and each path's resourceVersion to watch from."""
    found: list[JSON] = []
    versions: dict[str, str] = {}
    for path in where.paths:
        listed = await client.list(path)
        versions[path] = str((listed.get("metadata") or {}).get("resourceVersion", ""))
        found += [event for event in listed.get("items") or [] if where(event)]
    return found, versions


async def _follow(
    client: KubeClient,
    where: Filter,
    path: str,
    version: str,
    printer: _Printer,
) -> None:
    """Print each new event of `path` that `where` selects, for ever: a watch that the
    server ends is started again from the last version seen; one that expired (410)
    starts from a fresh listing, printing only what was not shown yet."""
    from kidp_gitops.kube import ApiError

    while True:
        params = {
            "watch": "1",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(_WATCH_SECONDS),
        }
        expired = False
        try:
            async for change in client.stream(path, params, read_timeout=_WATCH_SECONDS + 60):
                event = change.get("object") or {}
                if change.get("type") == "ERROR":
                    if event.get("code") != 410:
                        raise CliError(f"the watch of events ended: {event.get('message', '')}")
                    expired = True
                    break
                version = str((event.get("metadata") or {}).get("resourceVersion") or version)
                if change.get("type") in ("ADDED", "MODIFIED") and where(event):
                    printer.offer(event)
        except ApiError as err:
            if not err.gone:
                raise
            expired = True
        if expired:
            found, versions = await _list(client, Filter(where.wanted, where.types, (path,)))
            for event in sorted(found, key=view_events.event_time):
                printer.offer(event)
            version = versions[path]


def _cells(r: JSON, all_namespaces: bool) -> list[str | Text]:
    cells: list[str | Text] = [r["namespace"]] if all_namespaces else []
    seen = times.age(r["lastSeen"])
    if r["count"] > 1:
        seen = f"{seen} (x{r['count']})"
    kind_style = "red" if r["type"] == "Warning" else ""
    cells += [seen, Text(r["type"], style=kind_style), r["reason"], r["object"], r["message"]]
    return cells


def _columns(all_namespaces: bool) -> list[str]:
    return [
        *(["NAMESPACE"] if all_namespaces else []),
        "LAST SEEN",
        "TYPE",
        "REASON",
        "OBJECT",
        "MESSAGE",
    ]


def _print_listing(found: list[JSON], fmt: output.Format, all_namespaces: bool) -> None:
    if fmt is not output.Format.table:
        output.echo(output.dump(found, fmt))
    elif not found:
        output.warning("no events found")
    else:
        output.print_table(_columns(all_namespaces), [_cells(r, all_namespaces) for r in found])


def _streamer(fmt: output.Format, all_namespaces: bool) -> Callable[[JSON], None]:
    """How a watch prints one event: a table row, a JSON line, or a YAML document."""

    def show(event: JSON) -> None:
        r = view_events.row(event)
        if fmt is output.Format.json:
            output.echo(json.dumps(r, default=str) + "\n")
        elif fmt is output.Format.yaml:
            output.echo(output.dump_documents([r]))
        else:
            output.print_table(_columns(all_namespaces), [_cells(r, all_namespaces)], header=False)

    return show


def events(
    for_: For = None,
    types: Types = None,
    watch: Watch = False,
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    all_namespaces: session.AllNamespaces = False,
    output_format: output.OutputFormat = output.Format.table,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Show the events of GitOps objects (and, with --watch, stream new ones)."""
    target = session.Target(kubeconfig, context, namespace, all_namespaces)
    ref = kinds.parse_ref(for_, name_required=False) if for_ else None
    if ref is not None and ref.namespace:
        target = session.Target(kubeconfig, context, ref.namespace, all_namespaces)
    wanted_types = {t.lower() for t in types or []}
    unknown = sorted(wanted_types - {"normal", "warning"})
    if unknown:
        raise CliError(f"--types {unknown[0]!r}: expected Normal or Warning")
    fmt = output_format

    async def work(client: KubeClient) -> None:
        where = await _filter(client, ref, wanted_types, target)
        found, versions = await _list(client, where)
        if not watch:
            _print_listing(view_events.rows(found), fmt, target.all_namespaces)
            return
        printer = _Printer(_streamer(fmt, target.all_namespaces))
        ordered = sorted(found, key=view_events.event_time)
        table = fmt is output.Format.table
        if table:  # the listing as one aligned table; then a row a new event
            cells = [_cells(view_events.row(e), target.all_namespaces) for e in ordered]
            output.print_table(_columns(target.all_namespaces), cells)
        for event in ordered:
            printer.offer(event, quiet=table)
        await asyncio.gather(*(_follow(client, where, p, v, printer) for p, v in versions.items()))

    try:
        session.run(target, work)
    except KeyboardInterrupt:
        if not watch:
            raise
        # Ctrl-C is how a watch ends: not a failure.

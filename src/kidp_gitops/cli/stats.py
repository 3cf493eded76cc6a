"""`kidp stats`: how many GitOps objects of each kind exist, how many fail, how many are
suspended, and how much artifact storage the sources use — `flux stats`' table.

    RECONCILERS      RUNNING   FAILING   SUSPENDED   STORAGE
    GitRepository    3         0         0           1.2 MiB
    Kustomization    12        1         2           -

Only kinds the cluster serves are counted; `-A` counts in every namespace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kidp_gitops.cli import output, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import kinds

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient

JSON = dict[str, Any]


def size(n: int) -> str:
    """Bytes in binary units: 512 B, 1.5 KiB, 12.0 MiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover - the loop returns


def count(kind: kinds.Kind, objects: list[JSON]) -> JSON:
    failing = sum(1 for o in objects if kinds.condition(o).get("status") == "False")
    suspended = sum(1 for o in objects if kinds.suspended(o))
    stored = [((o.get("status") or {}).get("artifact") or {}).get("size") for o in objects]
    has_storage = kind in kinds.SOURCES
    return {
        "kind": kind.kind,
        "running": len(objects) - suspended,
        "failing": failing,
        "suspended": suspended,
        "storage": sum(s for s in stored if isinstance(s, int)) if has_storage else None,
    }


def stats(
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    all_namespaces: session.AllNamespaces = False,
    output_format: output.OutputFormat = output.Format.table,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Count GitOps objects by kind: running, failing, suspended, artifact storage."""
    target = session.Target(kubeconfig, context, namespace, all_namespaces)

    async def work(client: KubeClient) -> list[JSON]:
        rows = []
        for kind in kinds.ALL:
            try:
                objects, _ = await session.list_objects(client, kind, target.scope)
            except CliError:
                continue  # not served by this cluster
            rows.append(count(kind, objects))
        return rows

    rows = session.run(target, work)
    if output_format is not output.Format.table:
        output.echo(output.dump(rows, output_format))
        return
    output.print_table(
        ["RECONCILERS", "RUNNING", "FAILING", "SUSPENDED", "STORAGE"],
        [
            [
                r["kind"],
                str(r["running"]),
                str(r["failing"]),
                str(r["suspended"]),
                "-" if r["storage"] is None else size(r["storage"]),
            ]
            for r in rows
        ],
    )

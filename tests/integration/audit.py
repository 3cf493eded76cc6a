"""Who wrote what, from the API server's audit log (AUDIT_POLICY in devcluster/components.py:
every write but leases, events and delegated auth, at Metadata level).

The order of the log is the API server's: writes are compared by their place in it,
never by a clock of the test. `writes` reads the successful writes that changed
something (no dry runs, no refused requests); `writers_of` answers for one object.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from kidp_gitops.devcluster import DevCluster


@dataclass(frozen=True)
class Write:
    place: int
    """The line of the audit log: the order in which the API server answered."""
    verb: str
    resource: str
    """`configmaps`, or with its group: `kustomizations.kustomize.toolkit.fluxcd.io`."""
    namespace: str
    name: str
    subresource: str
    user: str
    user_agent: str

    @property
    def object(self) -> tuple[str, str, str]:
        """The object written, whatever part of it (`status` too)."""
        return (self.resource, self.namespace, self.name)


def _parse(lines: Iterable[str], namespace: str | None) -> list[Write]:
    found: list[Write] = []
    for place, line in enumerate(lines):
        if namespace is not None and f'"namespace":"{namespace}"' not in line:
            continue  # most lines are other tests': skip them before parsing
        event = json.loads(line)
        ref = event.get("objectRef") or {}
        if namespace is not None and ref.get("namespace") != namespace:
            continue
        code = (event.get("responseStatus") or {}).get("code", 0)
        if not 200 <= code < 300:
            continue  # refused or conflicting: nothing written
        if "dryRun" in parse_qs(urlsplit(event["requestURI"]).query):
            continue
        group = ref.get("apiGroup")
        resource = ref.get("resource", "")
        found.append(
            Write(
                place=place,
                verb=event["verb"],
                resource=f"{resource}.{group}" if group else resource,
                namespace=ref.get("namespace", ""),
                name=ref.get("name", ""),
                subresource=ref.get("subresource", ""),
                user=event["user"]["username"],
                user_agent=event.get("userAgent", ""),
            )
        )
    return found


async def writes(cluster: DevCluster, namespace: str | None = None) -> list[Write]:
    """The writes recorded so far (in `namespace` only, when given), in the log's order."""

    def read() -> list[Write]:
        # The rotated file first (the API server names it audit-<time>.log), then the
        # current one: one sequence, in the order the API server wrote it.
        rotated = sorted(cluster.audit_log.parent.glob("audit-*.log"))

        def lines() -> Iterator[str]:
            for path in [*rotated, cluster.audit_log]:
                with path.open() as f:
                    yield from f

        return _parse(lines(), namespace)

    return await asyncio.to_thread(read)


async def writers_of(cluster: DevCluster, resource: str, namespace: str, name: str) -> list[Write]:
    """Every write of one object (`resource` as `Write.resource` names it)."""
    return [w for w in await writes(cluster, namespace) if w.object == (resource, namespace, name)]

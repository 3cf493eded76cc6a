"""Kubernetes Events about GitOps objects: when each happened, which objects it is
about, and the row `kidp events` prints (and `-o json` shows).

Where it fits: the CLI lists and watches Events through the API server, the dashboard
reads them from the engine's informer cache; both ask these functions which events
belong to kidp's kinds and when they last happened. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from kidp_gitops.views import kinds

JSON = dict[str, Any]

Wanted = set[tuple[str, str | None, str]]
"""(kind, namespace, name) of the objects whose events are wanted: an empty name is every
object of the kind, a None namespace every namespace."""


def event_time(event: JSON) -> str:
    """When the event last happened, by the first time it carries: the last timestamp,
    the series' last observation (events.k8s.io), the event time, the first timestamp,
    or when the Event object was made."""
    return str(
        event.get("lastTimestamp")
        or (event.get("series") or {}).get("lastObservedTime")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )


def is_ours(event: JSON) -> bool:
    """Whether the event is about an object of one of kidp's API groups."""
    involved = event.get("involvedObject") or {}
    return kinds.is_ours(str(involved.get("apiVersion", "")))


def is_about(event: JSON, wanted: Wanted) -> bool:
    """Whether the event is about one of `wanted`."""
    involved = event.get("involvedObject") or {}
    kind, ns, name = involved.get("kind"), involved.get("namespace"), involved.get("name")
    return any(k == kind and n in (None, ns) and m in ("", name) for k, n, m in wanted)


def row(event: JSON) -> JSON:
    """The event as `kidp events` shows it (LAST SEEN, TYPE, REASON, OBJECT, MESSAGE)."""
    involved = event.get("involvedObject") or {}
    return {
        "lastSeen": event_time(event),
        "type": event.get("type", ""),
        "reason": event.get("reason", ""),
        "object": f"{involved.get('kind')}/{involved.get('name')}",
        "namespace": involved.get("namespace") or event["metadata"].get("namespace"),
        "message": str(event.get("message", "")).strip(),
        "count": event.get("count") or 1,
    }


def rows(events: list[JSON]) -> list[JSON]:
    """The events' rows, oldest first."""
    return [row(event) for event in sorted(events, key=event_time)]

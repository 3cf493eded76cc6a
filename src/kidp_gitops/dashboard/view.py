"""What the dashboard shows of an object: pure functions from objects to JSON.

Where it fits: `reader` finds objects in the engine's informer cache, this module turns
them into the rows, details, trees and counts the JSON API returns, and `server` serves
them. Nothing here does I/O, so every shape the UI relies on is unit-tested.

Secrets stay out: a spec summary leaves out Helm values, post-build substitutions and
patches (any of them may hold a password), shows only the keys of maps that may hold
values, and strips credentials from URLs (`https://user:token@host` → `https://host`).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from kidp_gitops.views import events, kinds, times, tree

JSON = dict[str, Any]

# The kinds the dashboard lists, in the order a reader follows the flow of data.
KINDS: Final = tuple(k.kind for k in kinds.IN_FLOW_ORDER)

# Spec fields never shown: they may hold secret values, or are too large to summarize.
_HIDDEN: Final = frozenset({"values", "patches", "patchesStrategicMerge", "patchesJson6902"})
# Maps whose keys are shown but not their values.
_KEYS_ONLY: Final = frozenset({"substitute", "headers", "commonMetadata"})
_MAX_DEPTH: Final = 3


def condition(obj: JSON, type_: str) -> JSON:
    return kinds.condition(obj, type_)


def row(obj: JSON, now: datetime.datetime | None = None) -> JSON:
    """One line of the objects table."""
    meta = obj.get("metadata") or {}
    ready = condition(obj, "Ready")
    drifted = condition(obj, "Drifted")
    message = str(ready.get("message", ""))
    if not ready:
        message = "waiting to be reconciled"
    created = str(meta.get("creationTimestamp", ""))
    return {
        "kind": str(obj.get("kind", "")),
        "namespace": str(meta.get("namespace", "")),
        "name": str(meta.get("name", "")),
        "ready": str(ready.get("status", "Unknown")),
        "reason": str(ready.get("reason", "")),
        "message": message,
        "revision": kinds.revision(obj),
        "suspended": kinds.suspended(obj),
        "drifted": str(drifted.get("status", "")) == "True",
        "created": created,
        "age": times.age(created, now) if created else "-",
    }


def state_of(r: JSON) -> str:
    """The one word the overview counts a row under."""
    if r["suspended"]:
        return "suspended"
    return "ready" if r["ready"] == "True" else "notReady"


def overview(rows: Iterable[JSON]) -> JSON:
    """Per kind: how many objects, Ready, NotReady, Suspended, Drifted."""
    counts: JSON = {
        k: {"total": 0, "ready": 0, "notReady": 0, "suspended": 0, "drifted": 0} for k in KINDS
    }
    for r in rows:
        c = counts.get(r["kind"])
        if c is None:
            continue
        c["total"] += 1
        c[state_of(r)] += 1
        c["drifted"] += int(bool(r["drifted"]))
    return counts


def redact_url(value: str) -> str:
    """The URL without user and password; anything else unchanged."""
    if "://" not in value or "@" not in value:
        return value
    try:
        parts = urlsplit(value)
    except ValueError:
        return "<redacted>"
    if parts.username is None and parts.password is None:
        return value
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def spec_summary(obj: JSON) -> JSON:
    """The spec as dotted keys and short display values (see the module docstring)."""
    summary: JSON = {}
    kind = str(obj.get("kind", ""))

    def walk(node: Any, prefix: str, depth: int) -> None:
        if isinstance(node, dict):
            for key in sorted(node):
                path = f"{prefix}.{key}" if prefix else str(key)
                if key in _HIDDEN:
                    summary[path] = "(not shown)"
                elif key in _KEYS_ONLY and isinstance(node[key], dict):
                    summary[path] = ", ".join(sorted(str(k) for k in node[key])) or "{}"
                elif depth >= _MAX_DEPTH and isinstance(node[key], (dict, list)):
                    summary[path] = f"({len(node[key])} entries)"
                else:
                    walk(node[key], path, depth + 1)
        elif isinstance(node, list):
            if all(isinstance(i, (str, int, float, bool)) for i in node):
                summary[prefix] = ", ".join(_scalar(i) for i in node)
            else:
                summary[prefix] = f"({len(node)} entries)"
        else:
            summary[prefix] = _scalar(node)

    walk(obj.get("spec") or {}, "", 0)
    if kind == "Provider" and "address" in summary:
        # A webhook address often carries its token in the path: show where it goes only.
        parts = urlsplit(str(summary["address"]))
        summary["address"] = f"{parts.scheme}://{parts.hostname}" if parts.hostname else "(set)"
    return summary


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return redact_url(str(value))


def conditions(obj: JSON) -> list[JSON]:
    found = (obj.get("status") or {}).get("conditions") or []
    return [
        {
            "type": str(c.get("type", "")),
            "status": str(c.get("status", "")),
            "reason": str(c.get("reason", "")),
            "message": str(c.get("message", "")),
            "lastTransitionTime": str(c.get("lastTransitionTime", "")),
        }
        for c in found
        if isinstance(c, dict)
    ]


def detail(obj: JSON, lookup: tree.Lookup, recent: list[JSON]) -> JSON:
    """Everything the detail view shows of one object."""
    status = obj.get("status") or {}
    return {
        **row(obj),
        "apiVersion": str(obj.get("apiVersion", "")),
        "generation": (obj.get("metadata") or {}).get("generation"),
        "observedGeneration": status.get("observedGeneration"),
        "lastHandledReconcileAt": str(status.get("lastHandledReconcileAt", "")),
        "conditions": conditions(obj),
        "spec": spec_summary(obj),
        "inventory": tree.nodes(obj, lookup) if obj.get("kind") == "Kustomization" else [],
        "events": recent,
    }


def is_flux_event(event: JSON) -> bool:
    involved = event.get("involvedObject") or {}
    return str(involved.get("kind", "")) in KINDS and events.is_ours(event)


def event_row(event: JSON) -> JSON:
    involved = event.get("involvedObject") or {}
    return {
        "time": events.event_time(event),
        "type": str(event.get("type", "")),
        "reason": str(event.get("reason", "")),
        "kind": str(involved.get("kind", "")),
        "namespace": str(involved.get("namespace", "")),
        "name": str(involved.get("name", "")),
        "message": str(event.get("message", "")),
        "count": int(event.get("count") or 1),
    }


def recent_events(
    found: Iterable[JSON],
    *,
    kind: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    limit: int = 200,
) -> list[JSON]:
    """Events about Flux kinds, newest first, optionally about one object."""
    rows = [event_row(e) for e in found if is_flux_event(e)]
    if kind is not None:
        rows = [r for r in rows if r["kind"] == kind]
    if namespace is not None:
        rows = [r for r in rows if r["namespace"] == namespace]
    if name is not None:
        rows = [r for r in rows if r["name"] == name]
    rows.sort(key=lambda r: r["time"], reverse=True)
    return rows[:limit]

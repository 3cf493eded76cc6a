"""What a Kustomization applied, read from its `status.inventory` (the controller's
record, so what was applied, not what Git holds now), and followed into the
Kustomizations it applied (the app-of-apps pattern), each once: a cycle ends at a leaf.

Two readings of the same walk. The dashboard's (`nodes`) reads the engine's informer
cache and gives each entry its health; the CLI's (`applied`) fetches each Kustomization
from the API server and gives the nested {kind, namespace, name, resources} that
`kidp tree` draws (`render`) or prints as JSON/YAML.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kidp_gitops.kube import kstatus
from kidp_gitops.kustomize.inventory import ObjRef, from_status
from kidp_gitops.views import kinds

JSON = dict[str, Any]

Lookup = Callable[[ObjRef], JSON | None]
"""Finds the live object an inventory entry names, or None when it is not known."""
Fetch = Callable[[str, str], Awaitable[JSON | None]]
"""Fetches the Kustomization namespace/name, or None when it is gone."""


def entries(obj: JSON) -> list[ObjRef]:
    """The inventory of a Kustomization; a ValueError when it cannot be read."""
    return from_status(obj.get("status") or {})


def is_kustomization(ref: ObjRef) -> bool:
    return ref.group == kinds.KUSTOMIZATION.group and ref.kind == kinds.KUSTOMIZATION.kind


def is_remote(obj: JSON) -> bool:
    """Whether the Kustomization applies to a remote cluster (`spec.kubeConfig`): its
    inventory names objects there, which neither this cluster nor its cache hold."""
    return bool((obj.get("spec") or {}).get("kubeConfig"))


REMOTE = {"status": "Unknown", "message": "on the remote cluster of spec.kubeConfig"}


def _key(namespace: object, name: object) -> str:
    return f"{namespace}/{name}"


# ---- the dashboard's: from the cache, with health --------------------------------------


def health(obj: JSON | None) -> JSON:
    """The kstatus verdict of a live object (NotFound when it is gone)."""
    if obj is None:
        return {"status": kstatus.Status.NOT_FOUND.value, "message": "not found in the cache"}
    result = kstatus.compute(obj)
    return {"status": result.status.value, "message": result.message}


def node(ref: ObjRef, live: JSON | None) -> JSON:
    return {
        "kind": ref.kind,
        "apiVersion": ref.api_version,
        "namespace": ref.namespace,
        "name": ref.name,
        "health": health(live),
        "resources": [],
    }


def nodes(obj: JSON, lookup: Lookup, seen: set[str] | None = None) -> list[JSON]:
    """The inventory of a Kustomization as nodes, each with its health; a Kustomization
    it applied is followed into its own inventory, with its Ready status."""
    meta = obj.get("metadata") or {}
    seen = seen if seen is not None else set()
    seen.add(_key(meta.get("namespace"), meta.get("name")))
    try:
        refs = entries(obj)
    except ValueError:
        return []
    found = []
    remote = is_remote(obj)
    for ref in refs:
        live = None if remote else lookup(ref)
        item = node(ref, live)
        if remote:
            item["health"] = dict(REMOTE)
        if is_kustomization(ref) and live is not None and _key(ref.namespace, ref.name) not in seen:
            item["resources"] = nodes(live, lookup, seen)
            item["ready"] = str(kinds.condition(live, "Ready").get("status", "Unknown"))
        found.append(item)
    return found


# ---- the CLI's: from the API server, as a nested tree ----------------------------------


def leaf(kind: str, namespace: str, name: str) -> JSON:
    return {"kind": kind, "namespace": namespace, "name": name, "resources": []}


async def applied(ks: JSON, fetch: Fetch, *, compact: bool, seen: set[str] | None = None) -> JSON:
    """The Kustomization `ks` and, recursively, its inventory; `compact` keeps only the
    GitOps objects."""
    namespace, name = ks["metadata"]["namespace"], ks["metadata"]["name"]
    seen = seen if seen is not None else set()
    seen.add(_key(namespace, name))
    root = leaf("Kustomization", namespace, name)
    remote = is_remote(ks)  # its inventory is another cluster's: nothing to follow here
    for ref in entries(ks):
        if not remote and is_kustomization(ref) and _key(ref.namespace, ref.name) not in seen:
            child = await fetch(ref.namespace, ref.name)
            if child is not None:
                root["resources"].append(await applied(child, fetch, compact=compact, seen=seen))
                continue
            # gone meanwhile: show it as a leaf
        if compact and not kinds.is_ours(f"{ref.group}/{ref.version}"):
            continue
        root["resources"].append(leaf(ref.kind, ref.namespace, ref.name))
    return root


def _label(item: JSON) -> str:
    where = f"{item['namespace']}/" if item["namespace"] else ""
    return f"{item['kind']}/{where}{item['name']}"


def render(tree: JSON) -> list[str]:
    """The tree as lines with ├── / └── guides."""
    lines = [_label(tree)]

    def walk(children: list[JSON], prefix: str) -> None:
        for i, child in enumerate(children):
            last = i == len(children) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{_label(child)}")
            walk(child["resources"], prefix + ("    " if last else "│   "))

    walk(tree["resources"], "")
    return lines

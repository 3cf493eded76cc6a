"""The pure pieces of `kidp events`: which events a filter keeps, and which events a
watch prints (each once; again only when it repeats)."""

from __future__ import annotations

from typing import Any

from kidp_gitops.cli import events

JSON = dict[str, Any]


def event(
    uid: str, kind: str = "Kustomization", name: str = "apps", count: int = 1, **fields: Any
) -> JSON:
    return {
        "metadata": {"uid": uid, "namespace": "flux-system", "name": f"{name}.{uid}"},
        "involvedObject": {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1" if kind == "Kustomization" else "v1",
            "kind": kind,
            "name": name,
            "namespace": "flux-system",
        },
        "type": "Normal",
        "reason": "ReconciliationSucceeded",
        "count": count,
        "lastTimestamp": f"2025-01-10T12:00:0{count}Z",
        **fields,
    }


def test_a_filter_without_for_keeps_the_events_of_gitops_kinds() -> None:
    everything = events.Filter(None, frozenset(), ("/api/v1/events",))
    assert everything(event("a"))
    assert not everything(event("b", kind="Pod", name="x"))


def test_a_filter_keeps_the_wanted_objects_and_types() -> None:
    wanted = {("Kustomization", "flux-system", "apps"), ("GitRepository", None, "")}
    warnings = events.Filter(wanted, frozenset({"warning"}), ())
    assert warnings(event("a", type="Warning"))
    assert not warnings(event("b"))  # Normal
    assert not warnings(event("c", name="other", type="Warning"))
    repo = event("d", type="Warning")
    repo["involvedObject"].update(kind="GitRepository", name="any", namespace="elsewhere")
    assert warnings(repo)


def test_a_watch_prints_each_event_once_and_again_when_it_repeats() -> None:
    shown: list[str] = []
    printer = events._Printer(lambda e: shown.append(f"{e['metadata']['uid']}x{e['count']}"))
    printer.offer(event("listed"), quiet=True)  # already in the listing's table
    printer.offer(event("listed"))  # a resumed watch delivers it again
    printer.offer(event("new"))
    printer.offer(event("new"))
    printer.offer(event("new", count=2))  # it happened again
    assert shown == ["newx1", "newx2"]

"""What the dashboard shows of objects: rows, counts, spec summaries without secrets,
inventory trees with health, and the events of GitOps objects."""

from __future__ import annotations

import datetime
from typing import Any

from kidp_gitops.dashboard import view
from kidp_gitops.kustomize.inventory import ObjRef
from kidp_gitops.views import tree

JSON = dict[str, Any]
NOW = datetime.datetime(2026, 1, 2, 12, 0, tzinfo=datetime.UTC)


def ks(name: str, *, ready: str = "True", entries: tuple[str, ...] = (), **extra: Any) -> JSON:
    conditions = [{"type": "Ready", "status": ready, "reason": "R", "message": f"m {name}"}]
    conditions += extra.pop("conditions", [])
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": "2026-01-02T11:55:00Z"},
        "spec": {"path": "./apps", "suspend": extra.pop("suspend", False)},
        "status": {
            "conditions": conditions,
            "lastAppliedRevision": "main@sha1:abc",
            "inventory": {"entries": [{"id": e, "v": "v1"} for e in entries]},
        },
    }


def test_a_row_has_state_revision_drift_and_age() -> None:
    drifted = {"type": "Drifted", "status": "True", "reason": "Protected", "message": "x"}
    r = view.row(ks("apps", ready="False", conditions=[drifted], suspend=True), NOW)
    assert r["kind"] == "Kustomization"
    assert (r["namespace"], r["name"]) == ("ns", "apps")
    assert r["ready"] == "False"
    assert r["revision"] == "main@sha1:abc"
    assert r["suspended"] is True
    assert r["drifted"] is True
    assert r["age"] == "5m"
    assert view.state_of(r) == "suspended"


def test_an_object_never_reconciled_says_so() -> None:
    r = view.row({"kind": "GitRepository", "metadata": {"name": "a", "namespace": "n"}})
    assert r["ready"] == "Unknown"
    assert r["message"] == "waiting to be reconciled"
    assert r["age"] == "-"


def test_image_automation_objects_are_listed_with_what_they_chose() -> None:
    policy = {
        "kind": "ImagePolicy",
        "metadata": {"name": "app", "namespace": "n"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded"}],
            "latestImage": "registry.local/app:1.3.0",
        },
    }
    r = view.row(policy, NOW)
    assert r["revision"] == "registry.local/app:1.3.0"
    assert view.overview([r])["ImagePolicy"]["ready"] == 1
    assert {"ImageRepository", "ImageUpdateAutomation"} <= set(view.KINDS)


def test_overview_counts_each_state_per_kind() -> None:
    drifted = {"type": "Drifted", "status": "True"}
    rows = [
        view.row(ks("a")),
        view.row(ks("b", ready="False", conditions=[drifted])),
        view.row(ks("c", suspend=True)),
        {"kind": "Secret", "suspended": False, "ready": "True", "drifted": False},
    ]
    counts = view.overview(rows)
    assert counts["Kustomization"] == {
        "total": 3,
        "ready": 1,
        "notReady": 1,
        "suspended": 1,
        "drifted": 1,
    }
    assert counts["GitRepository"]["total"] == 0
    assert "Secret" not in counts


def test_urls_lose_their_credentials() -> None:
    assert view.redact_url("https://bob:s3cret@git.example.com/r.git") == (
        "https://git.example.com/r.git"
    )
    assert view.redact_url("ssh://git@host:2222/r") == "ssh://host:2222/r"
    assert view.redact_url("https://git.example.com/r.git") == "https://git.example.com/r.git"
    assert view.redact_url("not a url") == "not a url"


def test_the_spec_summary_never_shows_values_that_may_be_secret() -> None:
    release = {
        "kind": "HelmRelease",
        "spec": {
            "interval": "5m",
            "chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository"}}},
            "values": {"password": "hunter2"},
            "postBuild": {"substitute": {"token": "abc123"}},
            "dependsOn": [{"name": "infra"}],
            "targets": ["a", "b"],
        },
    }
    summary = view.spec_summary(release)
    assert summary["interval"] == "5m"
    assert summary["chart.spec.chart"] == "podinfo"
    assert summary["chart.spec.sourceRef.kind"] == "HelmRepository"
    assert summary["values"] == "(not shown)"
    assert summary["postBuild.substitute"] == "token"
    assert summary["dependsOn"] == "(1 entries)"
    assert summary["targets"] == "a, b"
    assert "hunter2" not in str(summary)
    assert "abc123" not in str(summary)

    git = {"kind": "GitRepository", "spec": {"url": "https://u:pw@h/r.git", "suspend": True}}
    assert view.spec_summary(git) == {"url": "https://h/r.git", "suspend": "true"}
    provider = {"kind": "Provider", "spec": {"type": "slack", "address": "https://hooks/T0/B0/XyZ"}}
    assert view.spec_summary(provider)["address"] == "https://hooks"


def test_the_tree_follows_nested_kustomizations_and_shows_health() -> None:
    parent = ks(
        "parent",
        entries=(
            "ns_web_apps_Deployment",
            "ns_child_kustomize.toolkit.fluxcd.io_Kustomization",
            "ns_gone_apps_Deployment",
        ),
    )
    child = ks(
        "child", entries=("ns_cm__ConfigMap", "ns_parent_kustomize.toolkit.fluxcd.io_Kustomization")
    )
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ns", "generation": 2},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1},
    }
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "ns"}}
    live = {
        ("apps", "Deployment", "web"): deploy,
        ("kustomize.toolkit.fluxcd.io", "Kustomization", "child"): child,
        ("kustomize.toolkit.fluxcd.io", "Kustomization", "parent"): parent,
        ("", "ConfigMap", "cm"): cm,
    }

    def lookup(ref: ObjRef) -> JSON | None:
        return live.get((ref.group, ref.kind, ref.name))

    nodes = tree.nodes(parent, lookup)
    by_name = {n["name"]: n for n in nodes}
    assert by_name["web"]["health"]["status"] == "InProgress"
    assert by_name["gone"]["health"]["status"] == "NotFound"
    nested = by_name["child"]["resources"]
    assert [n["name"] for n in nested] == ["cm", "parent"]
    assert nested[0]["health"]["status"] == "Current"
    assert nested[0]["apiVersion"] == "v1"
    assert nested[1]["resources"] == []  # the cycle back to the parent ends at a leaf


def _event(kind: str, name: str, when: str, api: str = "kustomize.toolkit.fluxcd.io/v1") -> JSON:
    return {
        "metadata": {"name": f"{name}.{when}", "namespace": "ns"},
        "involvedObject": {"kind": kind, "apiVersion": api, "name": name, "namespace": "ns"},
        "type": "Normal",
        "reason": "ReconciliationSucceeded",
        "message": "applied",
        "lastTimestamp": when,
    }


def test_recent_events_are_about_gitops_objects_newest_first() -> None:
    events = [
        _event("Kustomization", "a", "2026-01-02T10:00:00Z"),
        _event("Kustomization", "b", "2026-01-02T11:00:00Z"),
        _event("Pod", "p", "2026-01-02T12:00:00Z", "v1"),
        _event("Kustomization", "fake", "2026-01-02T12:00:00Z", "example.com/v1"),
    ]
    rows = view.recent_events(events)
    assert [r["name"] for r in rows] == ["b", "a"]
    assert view.recent_events(events, name="a")[0]["time"] == "2026-01-02T10:00:00Z"
    assert view.recent_events(events, limit=1)[0]["name"] == "b"

"""Prometheus metrics of the controllers, named as Flux and controller-runtime name them,
so existing dashboards and alerts (the PRD's `FluxDriftDetected`) work unchanged.

    gotk_reconcile_duration_seconds{kind,name,namespace}        histogram
    gotk_reconcile_condition{kind,name,namespace,type,status}   1 for the current status
    gotk_suspend_status{kind,name,namespace}                    1 when suspended
    controller_runtime_reconcile_total{controller,result}       success|error|requeue|requeue_after
    controller_runtime_reconcile_errors_total{controller}
    workqueue_depth / _adds_total / _retries_total{name}
    workqueue_queue_duration_seconds / _work_duration_seconds{name}
    kidp_drifted_objects{kind,name,namespace}                    protected objects off Git
    kidp_drift_corrections_total{kind,name,namespace}
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from kidp_gitops.runtime import objectmetrics

# A series per reconciled object: held compactly (runtime/objectmetrics says why).
RECONCILE_DURATION = objectmetrics.Histogram(
    "gotk_reconcile_duration_seconds",
    "How long a reconciliation of one object took.",
    ["kind", "name", "namespace"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
CONDITION = objectmetrics.Conditions(
    "gotk_reconcile_condition",
    "The current status of a condition of an object: 1 for the status it has.",
)
SUSPEND = objectmetrics.Gauge(
    "gotk_suspend_status", "1 when the object is suspended.", ["kind", "name", "namespace"]
)
RECONCILE_TOTAL = Counter(
    "controller_runtime_reconcile_total", "Reconciliations by result.", ["controller", "result"]
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors_total", "Reconciliations that failed.", ["controller"]
)
QUEUE_DEPTH = Gauge("workqueue_depth", "Keys waiting in the queue.", ["name"])
QUEUE_ADDS = Counter("workqueue_adds_total", "Keys added to the queue.", ["name"])
QUEUE_RETRIES = Counter("workqueue_retries_total", "Rate-limited re-adds.", ["name"])
_SECONDS = (0.0001, 0.001, 0.01, 0.1, 0.5, 1, 5, 10, 60, 300)
QUEUE_WAIT = Histogram(
    "workqueue_queue_duration_seconds",
    "How long a key waited in the queue.",
    ["name"],
    buckets=_SECONDS,
)
QUEUE_WORK = Histogram(
    "workqueue_work_duration_seconds", "How long processing a key took.", ["name"], buckets=_SECONDS
)

DRIFTED = Gauge(
    "kidp_drifted_objects",
    "Protected objects whose live state differs from Git (reported, not corrected).",
    ["kind", "name", "namespace"],
)
DRIFT_CORRECTIONS = Counter(
    "kidp_drift_corrections_total",
    "Managed objects changed outside Git and put back.",
    ["kind", "name", "namespace"],
)


def record_conditions(
    kind: str, name: str, namespace: str, conditions: list[dict[str, str]]
) -> None:
    """Export each condition type with 1 on its current status and 0 on the others."""
    for cond in conditions:
        CONDITION.set(kind, name, namespace, cond["type"], cond.get("status", "Unknown"))


def record_deleted(kind: str, name: str, namespace: str, types: list[str]) -> None:
    """An object is gone: its conditions read Deleted, as Flux reports them."""
    for type_ in types:
        CONDITION.set(kind, name, namespace, type_, "Deleted")
    SUSPEND.labels(kind, name, namespace).set(0)


def record_suspend(kind: str, name: str, namespace: str, suspended: bool) -> None:
    SUSPEND.labels(kind, name, namespace).set(1 if suspended else 0)

"""kstatus verdicts, rule by rule, on objects shaped as the API server returns them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kidp_gitops.kube.kstatus import Condition, Result, Status, compute

CREATED = "2024-05-01T12:00:00Z"
NOW = datetime(2024, 5, 1, 12, 10, 0, tzinfo=UTC)


def resource(
    api_version: str,
    kind: str,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    generation: int | None = 1,
    **metadata: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": "web",
        "namespace": "apps",
        "uid": "7f3c1a8e-2b6d-4c1f-9a0e-5d4b3c2a1f00",
        "resourceVersion": "48213",
        "creationTimestamp": CREATED,
        "labels": {"app.kubernetes.io/name": "web"},
        **metadata,
    }
    if generation is not None:
        meta["generation"] = generation
    # Cluster-scoped kinds pass namespace=None.
    meta = {k: v for k, v in meta.items() if v is not None}
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    if spec is not None:
        obj["spec"] = spec
    if status is not None:
        obj["status"] = status
    return obj


def cond(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": CREATED,
    }


def verdict(obj: dict[str, Any]) -> tuple[Status, str]:
    result = compute(obj, now=NOW)
    return result.status, result.message


# --- the generic checks, before any kind's rule ------------------------------------------------


def test_status_values_are_the_kstatus_strings() -> None:
    assert [s.value for s in Status] == [
        "InProgress",
        "Failed",
        "Current",
        "Terminating",
        "NotFound",
        "Unknown",
    ]


def test_an_object_being_deleted_is_terminating_whatever_its_status() -> None:
    obj = deployment(want=3, have=3, updated=3, ready=3, available=3)
    obj["metadata"]["deletionTimestamp"] = "2024-05-01T12:09:00Z"
    obj["metadata"]["finalizers"] = ["foregroundDeletion"]
    assert compute(obj) == Result(Status.TERMINATING, "Deployment: scheduled for deletion")


def test_an_unobserved_generation_is_in_progress() -> None:
    obj = deployment(want=3, have=3, updated=3, ready=3, available=3)
    obj["metadata"]["generation"] = 5
    result = compute(obj)
    message = "Deployment: generation 5 not yet observed (last observed 1)"
    assert result == Result(
        Status.IN_PROGRESS,
        message,
        (Condition("Reconciling", "True", "LatestGenerationNotObserved", message),),
    )


def test_without_observed_generation_the_generation_is_not_judged() -> None:
    obj = resource("example.com/v1", "Widget", {"size": 3}, {"phase": "Running"}, generation=7)
    assert verdict(obj) == (Status.CURRENT, "Widget: current")


def test_reconciling_true_is_in_progress_and_wins_over_the_kind_rule() -> None:
    obj = deployment(want=3, have=3, updated=3, ready=3, available=3)
    obj["status"]["conditions"].append(cond("Reconciling", "True", "Upgrading", "rolling out v2"))
    result = compute(obj)
    assert result.status is Status.IN_PROGRESS
    assert result.message == "rolling out v2"
    assert result.conditions == (Condition("Reconciling", "True", "Upgrading", "rolling out v2"),)


def test_stalled_true_is_failed() -> None:
    obj = flux_kustomization(
        cond("Stalled", "True", "BuildFailed", "kustomize build failed: accumulating resources"),
        cond("Ready", "False", "BuildFailed", "kustomize build failed: accumulating resources"),
    )
    result = compute(obj)
    assert result.status is Status.FAILED
    assert result.message == "kustomize build failed: accumulating resources"
    assert result.conditions[0].type == "Stalled"


def test_reconciling_and_stalled_false_are_ignored() -> None:
    obj = flux_kustomization(
        cond("Reconciling", "False", "Succeeded"), cond("Stalled", "False", "Succeeded")
    )
    assert verdict(obj) == (Status.CURRENT, "Kustomization: current")


# --- custom resources: the Ready condition (beyond kstatus) ------------------------------------


def flux_kustomization(*conditions: dict[str, str]) -> dict[str, Any]:
    return resource(
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        {
            "interval": "10m",
            "path": "./apps",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
        },
        {"observedGeneration": 1, "conditions": list(conditions)},
        namespace="flux-system",
    )


def test_ready_true_is_current_with_its_message() -> None:
    obj = flux_kustomization(
        cond("Ready", "True", "ReconciliationSucceeded", "Applied main@sha1:9f2c")
    )
    assert compute(obj) == Result(Status.CURRENT, "Applied main@sha1:9f2c")


@pytest.mark.parametrize("value", ["False", "Unknown"])
def test_ready_not_true_is_in_progress(value: str) -> None:
    obj = resource(
        "cert-manager.io/v1",
        "Certificate",
        {"secretName": "web-tls", "dnsNames": ["web.example.com"]},
        {
            "conditions": [
                cond("Ready", value, "DoesNotExist", "Issuing certificate as Secret does not exist")
            ]
        },
    )
    message = "Issuing certificate as Secret does not exist"
    assert compute(obj) == Result(
        Status.IN_PROGRESS, message, (Condition("Reconciling", "True", "DoesNotExist", message),)
    )


def test_ready_without_reason_or_message_still_says_something() -> None:
    obj = resource(
        "example.com/v1", "Widget", {}, {"conditions": [{"type": "Ready", "status": "False"}]}
    )
    result = compute(obj)
    assert result == Result(
        Status.IN_PROGRESS,
        "Widget: not ready",
        (Condition("Reconciling", "True", "NotReady", "Widget: not ready"),),
    )


def test_an_object_without_status_is_current() -> None:
    obj = resource("rbac.authorization.k8s.io/v1", "Role", generation=None)
    obj["rules"] = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    assert compute(obj) == Result(Status.CURRENT, "Role: current")


def test_malformed_status_reads_as_defaults_instead_of_raising() -> None:
    obj = resource(
        "example.com/v1", "Widget", {}, {"conditions": "Ready", "observedGeneration": "1"}
    )
    assert verdict(obj) == (Status.CURRENT, "Widget: current")
    obj = deployment(want=3, have=3, updated=3, ready=3, available=3)
    obj["status"]["readyReplicas"] = "3"
    obj["status"]["conditions"].append(["not", "a", "condition"])
    assert verdict(obj) == (Status.IN_PROGRESS, "Deployment: 0 of 3 replicas ready")


# --- Deployment ---------------------------------------------------------------------------------


def deployment(
    want: int | None,
    have: int,
    updated: int,
    ready: int,
    available: int,
    progressing: tuple[str, str] = ("True", "NewReplicaSetAvailable"),
    available_condition: str = "True",
    api_version: str = "apps/v1",
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "progressDeadlineSeconds": 600,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
        },
        "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
    }
    if want is not None:
        spec["replicas"] = want
    return resource(
        api_version,
        "Deployment",
        spec,
        {
            "observedGeneration": 1,
            "replicas": have,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "conditions": [
                cond(
                    "Available",
                    available_condition,
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                ),
                cond(
                    "Progressing",
                    progressing[0],
                    progressing[1],
                    'ReplicaSet "web-7c9d" is progressing.',
                ),
            ],
        },
    )


def test_deployment_rolled_out_is_current() -> None:
    obj = deployment(want=3, have=3, updated=3, ready=3, available=3)
    assert compute(obj) == Result(Status.CURRENT, "Deployment: 3 replicas available")


def test_deployment_past_its_progress_deadline_is_failed() -> None:
    obj = deployment(
        want=3,
        have=3,
        updated=1,
        ready=2,
        available=2,
        progressing=("False", "ProgressDeadlineExceeded"),
    )
    timed_out = 'ReplicaSet "web-7c9d" has timed out progressing.'
    obj["status"]["conditions"][1]["message"] = timed_out
    result = compute(obj)
    assert result.status is Status.FAILED
    assert result.message == f"Deployment: progress deadline exceeded ({timed_out})"
    assert result.conditions == (
        Condition("Stalled", "True", "ProgressDeadlineExceeded", timed_out),
    )


@pytest.mark.parametrize(
    ("counts", "reason", "message"),
    [
        ((3, 1, 1, 1, 1), "LessReplicas", "Deployment: 1 of 3 replicas created"),
        ((3, 3, 1, 3, 3), "LessUpdated", "Deployment: 1 of 3 replicas updated"),
        ((3, 4, 3, 3, 3), "ExtraPods", "Deployment: 1 old replica pending termination"),
        ((3, 5, 3, 3, 3), "ExtraPods", "Deployment: 2 old replicas pending termination"),
        ((3, 3, 3, 3, 2), "LessAvailable", "Deployment: 2 of 3 updated replicas available"),
        ((3, 3, 3, 2, 3), "LessReady", "Deployment: 2 of 3 replicas ready"),
    ],
)
def test_deployment_rolling_out_is_in_progress(
    counts: tuple[int, int, int, int, int], reason: str, message: str
) -> None:
    want, have, updated, ready, available = counts
    result = compute(
        deployment(want, have, updated, ready, available, progressing=("True", "ReplicaSetUpdated"))
    )
    assert result == Result(
        Status.IN_PROGRESS, message, (Condition("Reconciling", "True", reason, message),)
    )


def test_deployment_waits_for_the_new_replica_set_to_be_reported_available() -> None:
    obj = deployment(
        want=3, have=3, updated=3, ready=3, available=3, progressing=("True", "ReplicaSetUpdated")
    )
    assert verdict(obj) == (Status.IN_PROGRESS, "Deployment: new ReplicaSet not available")


def test_deployment_waits_for_the_available_condition() -> None:
    obj = deployment(want=3, have=3, updated=3, ready=3, available=3, available_condition="False")
    assert verdict(obj) == (Status.IN_PROGRESS, "Deployment: not Available")


def test_deployment_without_a_deadline_needs_no_progressing_condition() -> None:
    obj = deployment(want=None, have=1, updated=1, ready=1, available=1)
    del obj["spec"]["progressDeadlineSeconds"]
    del obj["status"]["conditions"][1]
    # spec.replicas defaults to 1, as the controller defaults it.
    assert verdict(obj) == (Status.CURRENT, "Deployment: 1 replica available")


def test_deployment_in_the_extensions_group_follows_the_same_rule() -> None:
    obj = deployment(
        want=2, have=2, updated=0, ready=2, available=2, api_version="extensions/v1beta1"
    )
    assert verdict(obj) == (Status.IN_PROGRESS, "Deployment: 0 of 2 replicas updated")


# --- StatefulSet --------------------------------------------------------------------------------


def stateful_set(
    want: int = 3,
    have: int = 3,
    ready: int = 3,
    current: int = 3,
    updated: int = 3,
    strategy: dict[str, Any] | None = None,
    revisions: tuple[str, str] = ("db-5b6c9d", "db-5b6c9d"),
) -> dict[str, Any]:
    return resource(
        "apps/v1",
        "StatefulSet",
        {
            "replicas": want,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "updateStrategy": strategy or {"type": "RollingUpdate"},
            "template": {"spec": {"containers": [{"name": "db", "image": "postgres:16"}]}},
        },
        {
            "observedGeneration": 1,
            "replicas": have,
            "readyReplicas": ready,
            "currentReplicas": current,
            "updatedReplicas": updated,
            "currentRevision": revisions[0],
            "updateRevision": revisions[1],
            "collisionCount": 0,
        },
    )


def test_stateful_set_rolled_out_is_current() -> None:
    assert verdict(stateful_set()) == (Status.CURRENT, "StatefulSet: 3 replicas current")


def test_stateful_set_with_on_delete_updates_is_always_current() -> None:
    obj = stateful_set(ready=0, current=0, updated=0, strategy={"type": "OnDelete"})
    assert verdict(obj)[0] is Status.CURRENT


@pytest.mark.parametrize(
    ("fields", "reason", "message"),
    [
        (
            {"have": 1, "ready": 1, "current": 1, "updated": 1},
            "LessReplicas",
            "StatefulSet: 1 of 3 replicas created",
        ),
        ({"ready": 2}, "LessReady", "StatefulSet: 2 of 3 replicas ready"),
        ({"have": 4}, "ExtraPods", "StatefulSet: 1 extra replica pending termination"),
        ({"current": 1, "updated": 2}, "LessCurrent", "StatefulSet: 1 of 3 replicas current"),
        (
            {"revisions": ("db-5b6c9d", "db-77f8a1")},
            "RevisionMismatch",
            "StatefulSet: update revision not yet rolled out",
        ),
    ],
)
def test_stateful_set_rolling_out_is_in_progress(
    fields: dict[str, Any], reason: str, message: str
) -> None:
    result = compute(stateful_set(**fields))
    assert result == Result(
        Status.IN_PROGRESS, message, (Condition("Reconciling", "True", reason, message),)
    )


def test_stateful_set_partition_counts_only_the_partitioned_replicas() -> None:
    staged = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    done = stateful_set(current=2, updated=1, strategy=staged, revisions=("db-1", "db-2"))
    assert verdict(done) == (Status.CURRENT, "StatefulSet: partitioned rollout complete, 1 updated")

    everything = {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    rolling = stateful_set(current=2, updated=1, strategy=everything, revisions=("db-1", "db-2"))
    assert verdict(rolling) == (
        Status.IN_PROGRESS,
        "StatefulSet: 1 of 3 partitioned replicas updated",
    )


# --- DaemonSet ----------------------------------------------------------------------------------


def daemon_set(**status: Any) -> dict[str, Any]:
    counts = {
        "observedGeneration": 1,
        "desiredNumberScheduled": 4,
        "currentNumberScheduled": 4,
        "updatedNumberScheduled": 4,
        "numberAvailable": 4,
        "numberReady": 4,
        "numberMisscheduled": 0,
    }
    counts.update(status)
    return resource(
        "apps/v1",
        "DaemonSet",
        {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"spec": {"containers": [{"name": "agent", "image": "fluent-bit:3"}]}},
        },
        {k: v for k, v in counts.items() if v is not None},
        namespace="kube-system",
    )


def test_daemon_set_on_every_node_is_current() -> None:
    assert verdict(daemon_set()) == (Status.CURRENT, "DaemonSet: 4 pods scheduled and ready")


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        (
            {"observedGeneration": None},
            "NoObservedGeneration",
            "DaemonSet: not yet observed by its controller",
        ),
        (
            {"desiredNumberScheduled": None},
            "NoDesiredNumber",
            "DaemonSet: desired pod count not yet known",
        ),
        ({"currentNumberScheduled": 3}, "LessCurrent", "DaemonSet: 3 of 4 pods scheduled"),
        ({"updatedNumberScheduled": 2}, "LessUpdated", "DaemonSet: 2 of 4 pods updated"),
        ({"numberAvailable": 1}, "LessAvailable", "DaemonSet: 1 of 4 pods available"),
        ({"numberReady": 0, "numberAvailable": 4}, "LessReady", "DaemonSet: 0 of 4 pods ready"),
    ],
)
def test_daemon_set_rolling_out_is_in_progress(
    status: dict[str, Any], reason: str, message: str
) -> None:
    result = compute(daemon_set(**status))
    assert result == Result(
        Status.IN_PROGRESS, message, (Condition("Reconciling", "True", reason, message),)
    )


def test_daemon_set_without_a_generation_is_in_progress() -> None:
    obj = daemon_set()
    del obj["metadata"]["generation"]
    assert verdict(obj) == (Status.IN_PROGRESS, "DaemonSet: metadata.generation not set")


# --- ReplicaSet ---------------------------------------------------------------------------------


def replica_set(conditions: list[dict[str, str]] | None = None, **status: int) -> dict[str, Any]:
    counts = {
        "observedGeneration": 1,
        "replicas": 2,
        "fullyLabeledReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
    }
    counts.update(status)
    return resource(
        "apps/v1",
        "ReplicaSet",
        {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}},
        {**counts, "conditions": conditions or []},
        name="web-7c9d",
    )


def test_replica_set_fully_available_is_current() -> None:
    assert verdict(replica_set()) == (Status.CURRENT, "ReplicaSet: 2 replicas available")


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ({"fullyLabeledReplicas": 1}, "ReplicaSet: 1 of 2 replicas labelled"),
        ({"availableReplicas": 1}, "ReplicaSet: 1 of 2 replicas available"),
        ({"readyReplicas": 0}, "ReplicaSet: 0 of 2 replicas ready"),
        ({"replicas": 3}, "ReplicaSet: 1 extra replica pending termination"),
    ],
)
def test_replica_set_scaling_is_in_progress(status: dict[str, Any], message: str) -> None:
    assert verdict(replica_set(**status)) == (Status.IN_PROGRESS, message)


def test_replica_set_that_cannot_create_pods_is_in_progress() -> None:
    failure = cond(
        "ReplicaFailure", "True", "FailedCreate", 'pods "web-7c9d-x" is forbidden: exceeded quota'
    )
    result = compute(replica_set([failure], replicas=0, readyReplicas=0, availableReplicas=0))
    assert result.status is Status.IN_PROGRESS
    assert result.conditions[0].reason == "ReplicaFailure"


# --- Job ----------------------------------------------------------------------------------------


def job(conditions: list[dict[str, str]] | None = None, **status: Any) -> dict[str, Any]:
    return resource(
        "batch/v1",
        "Job",
        {
            "completions": 3,
            "parallelism": 1,
            "backoffLimit": 2,
            "template": {"spec": {"restartPolicy": "Never"}},
        },
        {"conditions": conditions or [], **status},
        name="migrate",
    )


def test_job_complete_is_current() -> None:
    obj = job(
        [cond("SuccessCriteriaMet", "True"), cond("Complete", "True")],
        startTime=CREATED,
        succeeded=3,
    )
    assert verdict(obj) == (Status.CURRENT, "Job: complete, 3 of 3 succeeded")


def test_job_failed_is_failed() -> None:
    obj = job(
        [cond("FailureTarget", "True"), cond("Failed", "True", "BackoffLimitExceeded")],
        startTime=CREATED,
        failed=3,
    )
    result = compute(obj)
    assert result == Result(
        Status.FAILED,
        "Job: failed, 3 of 3 pods failed",
        (Condition("Stalled", "True", "JobFailed", "Job: failed, 3 of 3 pods failed"),),
    )


def test_job_suspended_is_current() -> None:
    assert verdict(job([cond("Suspended", "True", "JobSuspended")])) == (
        Status.CURRENT,
        "Job: suspended",
    )


def test_job_not_started_is_in_progress() -> None:
    assert verdict(job()) == (Status.IN_PROGRESS, "Job: not started")


def test_job_running_is_current_as_in_kstatus() -> None:
    obj = job([cond("Complete", "False")], startTime=CREATED, active=1, succeeded=1, failed=1)
    assert verdict(obj) == (Status.CURRENT, "Job: running, 1 active, 1 succeeded, 1 failed")


def test_job_completions_default_to_parallelism() -> None:
    obj = job([cond("Complete", "True")], startTime=CREATED, succeeded=2)
    del obj["spec"]["completions"]
    obj["spec"]["parallelism"] = 2
    assert verdict(obj) == (Status.CURRENT, "Job: complete, 2 of 2 succeeded")


def test_cron_job_config_map_and_secret_are_current_once_applied() -> None:
    for api_version, kind in (("batch/v1", "CronJob"), ("v1", "ConfigMap"), ("v1", "Secret")):
        obj = resource(api_version, kind, generation=None)
        assert verdict(obj) == (Status.CURRENT, f"{kind}: nothing to wait for")


# --- Pod ----------------------------------------------------------------------------------------


def pod(
    phase: str | None, conditions: list[dict[str, str]] | None = None, **status: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"conditions": conditions or [], "qosClass": "BestEffort", **status}
    if phase is not None:
        body["phase"] = phase
    return resource(
        "v1",
        "Pod",
        {
            "containers": [
                {"name": "web", "image": "nginx:1.27"},
                {"name": "sidecar", "image": "envoy:1.30"},
            ]
        },
        body,
        generation=None,
        name="web-7c9d-x2kq4",
    )


def waiting(name: str, reason: str) -> dict[str, Any]:
    return {
        "name": name,
        "ready": False,
        "restartCount": 5,
        "state": {"waiting": {"reason": reason}},
    }


def test_pod_succeeded_is_current() -> None:
    assert verdict(pod("Succeeded")) == (Status.CURRENT, "Pod: completed successfully")


def test_pod_failed_has_finished_so_it_is_current_as_in_kstatus() -> None:
    assert verdict(pod("Failed")) == (Status.CURRENT, "Pod: completed, but not successfully")


def test_pod_running_and_ready_is_current() -> None:
    obj = pod(
        "Running",
        [cond("PodScheduled", "True"), cond("ContainersReady", "True"), cond("Ready", "True")],
    )
    assert verdict(obj) == (Status.CURRENT, "Pod: ready")


def test_pod_with_crash_looping_containers_is_failed() -> None:
    statuses = [waiting("web", "CrashLoopBackOff"), waiting("sidecar", "CrashLoopBackOff")]
    obj = pod("Running", [cond("Ready", "False", "ContainersNotReady")], containerStatuses=statuses)
    result = compute(obj)
    assert result.status is Status.FAILED
    assert result.message == "Pod: containers in CrashLoopBackOff: web, sidecar"
    assert result.conditions[0].reason == "ContainerCrashLooping"


def test_pod_running_but_not_ready_is_in_progress() -> None:
    statuses = [waiting("web", "ContainerCreating"), {"name": "sidecar", "state": {"running": {}}}]
    obj = pod("Running", [cond("Ready", "False", "ContainersNotReady")], containerStatuses=statuses)
    assert verdict(obj) == (Status.IN_PROGRESS, "Pod: running but not ready")


def test_pod_unschedulable_gets_a_grace_window_then_fails() -> None:
    unschedulable = cond(
        "PodScheduled", "False", "Unschedulable", "0/3 nodes are available: 3 Insufficient cpu."
    )
    obj = pod("Pending", [unschedulable])
    just_created = compute(obj, now=datetime(2024, 5, 1, 12, 0, 10, tzinfo=UTC))
    assert (just_created.status, just_created.message) == (
        Status.IN_PROGRESS,
        "Pod: not yet scheduled",
    )
    later = compute(obj, now=datetime(2024, 5, 1, 12, 0, 16, tzinfo=UTC))
    assert later.status is Status.FAILED
    assert (
        later.message == "Pod: cannot be scheduled (0/3 nodes are available: 3 Insufficient cpu.)"
    )


def test_pod_unschedulable_without_a_creation_time_fails_at_once() -> None:
    obj = pod("Pending", [cond("PodScheduled", "False", "Unschedulable")])
    del obj["metadata"]["creationTimestamp"]
    assert compute(obj, now=NOW).conditions[0].reason == "PodUnschedulable"


def test_pod_pending_otherwise_is_in_progress() -> None:
    obj = pod(
        "Pending",
        [cond("PodScheduled", "True")],
        containerStatuses=[waiting("web", "ContainerCreating")],
    )
    assert verdict(obj) == (Status.IN_PROGRESS, "Pod: pending")


def test_pod_without_a_phase_is_in_progress() -> None:
    assert verdict(pod(None)) == (Status.IN_PROGRESS, "Pod: phase not yet reported")


def test_pod_in_an_unknown_phase_is_unknown() -> None:
    assert compute(pod("Evicted")) == Result(Status.UNKNOWN, "Pod: unknown phase 'Evicted'")


def test_pod_clock_defaults_to_now() -> None:
    obj = pod("Pending", [cond("PodScheduled", "False", "Unschedulable")])
    obj["metadata"]["creationTimestamp"] = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert compute(obj).status is Status.IN_PROGRESS


# --- PersistentVolumeClaim, Service, PodDisruptionBudget ----------------------------------------


def test_persistent_volume_claim_bound_is_current_and_pending_in_progress() -> None:
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}
    bound = resource(
        "v1",
        "PersistentVolumeClaim",
        spec,
        {"phase": "Bound", "capacity": {"storage": "10Gi"}},
        generation=None,
    )
    assert verdict(bound) == (Status.CURRENT, "PersistentVolumeClaim: bound")
    pending = resource("v1", "PersistentVolumeClaim", spec, {"phase": "Pending"}, generation=None)
    assert verdict(pending) == (
        Status.IN_PROGRESS,
        "PersistentVolumeClaim: not bound (phase Pending)",
    )


def service(type_: str, cluster_ip: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": type_,
        "ports": [{"port": 80, "targetPort": 8080}],
        "selector": {"app": "web"},
    }
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    return resource("v1", "Service", spec, {"loadBalancer": {}}, generation=None)


def test_service_is_current_once_it_has_a_cluster_ip() -> None:
    assert verdict(service("ClusterIP", "10.96.12.4")) == (Status.CURRENT, "Service: ready")
    # As in kstatus, a LoadBalancer does not wait for status.loadBalancer.ingress: clusters
    # without a load-balancer controller would never report one.
    assert verdict(service("LoadBalancer", "10.96.12.5")) == (Status.CURRENT, "Service: ready")


def test_service_of_type_load_balancer_without_a_cluster_ip_is_in_progress() -> None:
    assert verdict(service("LoadBalancer", None)) == (
        Status.IN_PROGRESS,
        "Service: LoadBalancer without a cluster IP yet",
    )


def test_pod_disruption_budget_is_current_once_observed() -> None:
    obj = resource(
        "policy/v1",
        "PodDisruptionBudget",
        {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
        {
            "observedGeneration": 1,
            "currentHealthy": 3,
            "desiredHealthy": 2,
            "disruptionsAllowed": 1,
            "expectedPods": 3,
        },
    )
    assert verdict(obj) == (Status.CURRENT, "PodDisruptionBudget: allowed disruptions computed")
    obj["metadata"]["generation"] = 2
    assert verdict(obj)[0] is Status.IN_PROGRESS


# --- CustomResourceDefinition -------------------------------------------------------------------


def crd(*conditions: dict[str, str]) -> dict[str, Any]:
    return resource(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
        },
        {"acceptedNames": {"kind": "Widget", "plural": "widgets"}, "conditions": list(conditions)},
        name="widgets.example.com",
        namespace=None,
    )


def test_crd_established_is_current() -> None:
    obj = crd(
        cond("NamesAccepted", "True", "NoConflicts"),
        cond("Established", "True", "InitialNamesAccepted"),
    )
    assert verdict(obj) == (Status.CURRENT, "CustomResourceDefinition: established")


def test_crd_with_conflicting_names_is_failed() -> None:
    clash = cond("NamesAccepted", "False", "MultipleNamesNotAllowed", '"widgets" is already in use')
    result = compute(
        crd(clash, cond("Established", "False", "NotAccepted", "not all names are accepted"))
    )
    assert result == Result(
        Status.FAILED,
        'CustomResourceDefinition: "widgets" is already in use',
        (Condition("Stalled", "True", "MultipleNamesNotAllowed", result.message),),
    )


def test_crd_not_established_for_another_reason_is_failed() -> None:
    obj = crd(
        cond("NamesAccepted", "True", "NoConflicts"), cond("Established", "False", "NotAccepted")
    )
    assert verdict(obj) == (Status.FAILED, "CustomResourceDefinition: not established")


@pytest.mark.parametrize(
    "conditions",
    [
        (),
        (cond("NamesAccepted", "True", "NoConflicts"), cond("Established", "False", "Installing")),
    ],
)
def test_crd_being_installed_is_in_progress(conditions: tuple[dict[str, str], ...]) -> None:
    assert verdict(crd(*conditions)) == (
        Status.IN_PROGRESS,
        "CustomResourceDefinition: being installed",
    )

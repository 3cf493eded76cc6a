"""Health of any Kubernetes object, computed the way kstatus computes it.

Where it fits: the kustomize and helm controllers wait for what they applied to settle
(`spec.wait`, `spec.healthChecks`), and the dashboard shows the same verdict per object. Both hold
objects as plain dicts decoded from the API server's JSON and ask `compute`, which is pure: no I/O,
and no clock unless a Pod is waiting to be scheduled.

The checks run in the order of sigs.k8s.io/cli-utils/pkg/kstatus/status, so an object Flux calls
healthy is healthy here too:

    1. metadata.deletionTimestamp set                          -> Terminating
    2. status.observedGeneration behind metadata.generation    -> InProgress
    3. a Reconciling=True or Stalled=True condition             -> InProgress / Failed
    4. the rule for a built-in kind, looked up by (group, kind) in _RULES
    5. otherwise the Ready condition; no Ready condition        -> Current

Step 5 goes beyond kstatus, which ignores Ready and calls any custom resource without Reconciling
or Stalled Current. Many operators publish only Ready, so a health check on their objects would
pass while they are still failing; here Ready=False or Unknown keeps them InProgress until the
caller's timeout. Everything else, including the odd corners (a failed Pod has finished, so it is
Current; a LoadBalancer Service needs only a cluster IP), matches kstatus on purpose: existing
Flux repositories must see the same verdicts.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final


class Status(enum.StrEnum):
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    CURRENT = "Current"
    TERMINATING = "Terminating"
    # Never computed from an object: the verdict a caller gives when the object is gone.
    NOT_FOUND = "NotFound"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Condition:
    """A condition as kstatus reads it: from the object, or synthesized to explain a verdict."""

    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class Result:
    """The verdict, a message for a person, and the Reconciling/Stalled condition behind it."""

    status: Status
    message: str
    conditions: tuple[Condition, ...] = ()


# A Pod may sit unscheduled this long before "Unschedulable" counts as a failure, as in kstatus.
SCHEDULE_WINDOW: Final = timedelta(seconds=15)

# The Deployment controller stores "no progress deadline" as the largest int32.
_NO_DEADLINE: Final = 2**31 - 1


def _in_progress(reason: str, message: str) -> Result:
    return Result(Status.IN_PROGRESS, message, (Condition("Reconciling", "True", reason, message),))


def _failed(reason: str, message: str) -> Result:
    return Result(Status.FAILED, message, (Condition("Stalled", "True", reason, message),))


def _current(message: str) -> Result:
    return Result(Status.CURRENT, message)


def _dig(node: object, path: str) -> object:
    for key in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@dataclass(frozen=True)
class _Object:
    """Typed, forgiving reads from an object dict: a missing or mistyped field reads as the
    default, as kstatus's field helpers do, so a half-written status never raises."""

    raw: Mapping[str, Any]
    conditions: tuple[Condition, ...]
    now: datetime | None

    @classmethod
    def of(cls, raw: Mapping[str, Any], now: datetime | None) -> _Object:
        status = raw.get("status")
        entries = status.get("conditions") if isinstance(status, Mapping) else None
        parsed: list[Condition] = []
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("type"), str):
                continue
            status_, reason, message = (entry.get(k) for k in ("status", "reason", "message"))
            parsed.append(Condition(entry["type"], _str(status_), _str(reason), _str(message)))
        return cls(raw, tuple(parsed), now)

    @property
    def kind(self) -> str:
        return self.text("kind", "") or "Resource"

    @property
    def group(self) -> str:
        api_version = self.text("apiVersion", "")
        return api_version.rpartition("/")[0]

    def field(self, path: str) -> object:
        return _dig(self.raw, path)

    def number(self, path: str, default: int) -> int:
        value = self.field(path)
        # bool is an int in Python but never a count in JSON.
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    def has_number(self, path: str) -> bool:
        value = self.field(path)
        return isinstance(value, int) and not isinstance(value, bool)

    def text(self, path: str, default: str) -> str:
        value = self.field(path)
        return value if isinstance(value, str) else default

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    def is_true(self, type_: str) -> bool:
        return any(c.type == type_ and c.status == "True" for c in self.conditions)


def compute(obj: Mapping[str, Any], *, now: datetime | None = None) -> Result:
    """The kstatus verdict for `obj`, a full object including its status. `now` (timezone-aware)
    replaces the clock for the one rule that needs it."""
    subject = _Object.of(obj, now)
    for check in (_deleting, _generation_observed, _kstatus_conditions):
        verdict = check(subject)
        if verdict is not None:
            return verdict
    rule = _RULES.get((subject.group, subject.kind))
    return rule(subject) if rule is not None else _ready_condition(subject)


def _deleting(o: _Object) -> Result | None:
    if o.text("metadata.deletionTimestamp", ""):
        return Result(Status.TERMINATING, f"{o.kind}: scheduled for deletion")
    return None


def _generation_observed(o: _Object) -> Result | None:
    # Objects whose controller never writes observedGeneration cannot be judged this way.
    if not (o.has_number("metadata.generation") and o.has_number("status.observedGeneration")):
        return None
    generation = o.number("metadata.generation", 0)
    observed = o.number("status.observedGeneration", 0)
    if generation == observed:
        return None
    return _in_progress(
        "LatestGenerationNotObserved",
        f"{o.kind}: generation {generation} not yet observed (last observed {observed})",
    )


def _kstatus_conditions(o: _Object) -> Result | None:
    # The first of the two in list order wins, as in kstatus; a controller that follows the
    # convention never sets both.
    for c in o.conditions:
        if c.type == "Reconciling" and c.status == "True":
            return Result(Status.IN_PROGRESS, c.message or f"{o.kind}: reconciling", (c,))
        if c.type == "Stalled" and c.status == "True":
            return Result(Status.FAILED, c.message or f"{o.kind}: stalled", (c,))
    return None


def _ready_condition(o: _Object) -> Result:
    ready = o.condition("Ready")
    if ready is None:
        return _current(f"{o.kind}: current")
    if ready.status == "True":
        return _current(ready.message or f"{o.kind}: ready")
    return _in_progress(ready.reason or "NotReady", ready.message or f"{o.kind}: not ready")


def _always_ready(o: _Object) -> Result:
    return _current(f"{o.kind}: nothing to wait for")


def _deployment(o: _Object) -> Result:
    # Without a deadline the controller never reports progress, so there is nothing to wait for.
    progressing = o.number("spec.progressDeadlineSeconds", _NO_DEADLINE) == _NO_DEADLINE
    available = False
    for c in o.conditions:
        if c.type == "Progressing" and c.reason == "ProgressDeadlineExceeded":
            detail = f" ({c.message})" if c.message else ""
            return Result(
                Status.FAILED,
                f"Deployment: progress deadline exceeded{detail}",
                (Condition("Stalled", "True", c.reason, c.message),),
            )
        if c.type == "Progressing" and c.status == "True" and c.reason == "NewReplicaSetAvailable":
            progressing = True
        if c.type == "Available" and c.status == "True":
            available = True

    want = o.number("spec.replicas", 1)
    have = o.number("status.replicas", 0)
    updated = o.number("status.updatedReplicas", 0)
    ready = o.number("status.readyReplicas", 0)
    available_replicas = o.number("status.availableReplicas", 0)
    if want > have:
        return _in_progress("LessReplicas", f"Deployment: {have} of {want} replicas created")
    if want > updated:
        return _in_progress("LessUpdated", f"Deployment: {updated} of {want} replicas updated")
    if have > want:
        old = _count(have - want, "old replica")
        return _in_progress("ExtraPods", f"Deployment: {old} pending termination")
    if updated > available_replicas:
        return _in_progress(
            "LessAvailable",
            f"Deployment: {available_replicas} of {updated} updated replicas available",
        )
    if want > ready:
        return _in_progress("LessReady", f"Deployment: {ready} of {want} replicas ready")
    if not progressing:
        return _in_progress("ReplicaSetNotAvailable", "Deployment: new ReplicaSet not available")
    if not available:
        return _in_progress("DeploymentNotAvailable", "Deployment: not Available")
    return _current(f"Deployment: {_count(have, 'replica')} available")


def _stateful_set(o: _Object) -> Result:
    # With OnDelete, pods change only when a person deletes them: nothing to wait for.
    if o.text("spec.updateStrategy.type", "") == "OnDelete":
        return _current("StatefulSet: OnDelete update strategy, updates are manual")
    want = o.number("spec.replicas", 1)
    have = o.number("status.replicas", 0)
    ready = o.number("status.readyReplicas", 0)
    current = o.number("status.currentReplicas", 0)
    updated = o.number("status.updatedReplicas", 0)
    partition = o.number("spec.updateStrategy.rollingUpdate.partition", -1)
    if want > have:
        return _in_progress("LessReplicas", f"StatefulSet: {have} of {want} replicas created")
    if want > ready:
        return _in_progress("LessReady", f"StatefulSet: {ready} of {want} replicas ready")
    if have > want:
        extra = _count(have - want, "extra replica")
        return _in_progress("ExtraPods", f"StatefulSet: {extra} pending termination")
    if partition != -1:
        # Only ordinals at or above the partition roll; the rest stay on the old revision.
        target = want - partition
        if updated < target:
            return _in_progress(
                "PartitionRollout",
                f"StatefulSet: {updated} of {target} partitioned replicas updated",
            )
        return _current(f"StatefulSet: partitioned rollout complete, {updated} updated")
    if want > current:
        return _in_progress("LessCurrent", f"StatefulSet: {current} of {want} replicas current")
    if o.text("status.currentRevision", "") != o.text("status.updateRevision", ""):
        return _in_progress("RevisionMismatch", "StatefulSet: update revision not yet rolled out")
    return _current(f"StatefulSet: {_count(have, 'replica')} current")


def _daemon_set(o: _Object) -> Result:
    # The DaemonSet controller always writes observedGeneration, so its absence means the
    # controller has not looked yet (the generic check skips objects without it).
    if not o.has_number("metadata.generation"):
        return _in_progress("NoGeneration", "DaemonSet: metadata.generation not set")
    if not o.has_number("status.observedGeneration"):
        return _in_progress("NoObservedGeneration", "DaemonSet: not yet observed by its controller")
    desired = o.number("status.desiredNumberScheduled", -1)
    if desired == -1:
        return _in_progress("NoDesiredNumber", "DaemonSet: desired pod count not yet known")
    for reason, path, what in (
        ("LessCurrent", "status.currentNumberScheduled", "scheduled"),
        ("LessUpdated", "status.updatedNumberScheduled", "updated"),
        ("LessAvailable", "status.numberAvailable", "available"),
        ("LessReady", "status.numberReady", "ready"),
    ):
        got = o.number(path, 0)
        if desired > got:
            return _in_progress(reason, f"DaemonSet: {got} of {desired} pods {what}")
    return _current(f"DaemonSet: {_count(desired, 'pod')} scheduled and ready")


def _replica_set(o: _Object) -> Result:
    if o.is_true("ReplicaFailure"):
        return _in_progress("ReplicaFailure", "ReplicaSet: failed to create pods, check its events")
    want = o.number("spec.replicas", 1)
    for reason, path, what in (
        ("LessLabelled", "status.fullyLabeledReplicas", "labelled"),
        ("LessAvailable", "status.availableReplicas", "available"),
        ("LessReady", "status.readyReplicas", "ready"),
    ):
        got = o.number(path, 0)
        if want > got:
            return _in_progress(reason, f"ReplicaSet: {got} of {want} replicas {what}")
    have = o.number("status.replicas", 0)
    if have > want:
        extra = _count(have - want, "extra replica")
        return _in_progress("ExtraPods", f"ReplicaSet: {extra} pending termination")
    return _current(f"ReplicaSet: {_count(have, 'replica')} available")


def _job(o: _Object) -> Result:
    completions = o.number("spec.completions", o.number("spec.parallelism", 1))
    succeeded = o.number("status.succeeded", 0)
    failed = o.number("status.failed", 0)
    for c in o.conditions:
        if c.status != "True":
            continue
        if c.type == "Complete":
            return _current(f"Job: complete, {succeeded} of {completions} succeeded")
        if c.type == "Failed":
            return _failed("JobFailed", f"Job: failed, {failed} of {completions} pods failed")
        if c.type == "Suspended":
            return _current("Job: suspended")
    if not o.text("status.startTime", ""):
        return _in_progress("JobNotStarted", "Job: not started")
    # A running Job counts as Current in kstatus: it was applied and its controller took it up.
    active = o.number("status.active", 0)
    return _current(f"Job: running, {active} active, {succeeded} succeeded, {failed} failed")


def _pod(o: _Object) -> Result:
    phase = o.text("status.phase", "")
    if phase == "Succeeded":
        return _current("Pod: completed successfully")
    if phase == "Failed":
        # kstatus judges rollout, not outcome: a finished Pod has reached its final state.
        return _current("Pod: completed, but not successfully")
    if phase == "Running":
        if o.is_true("Ready"):
            return _current("Pod: ready")
        looping = _crash_looping(o)
        if looping:
            return _failed(
                "ContainerCrashLooping", f"Pod: containers in CrashLoopBackOff: {looping}"
            )
        return _in_progress("PodRunningNotReady", "Pod: running but not ready")
    if phase == "Pending":
        scheduled = o.condition("PodScheduled")
        if scheduled and scheduled.status == "False" and scheduled.reason == "Unschedulable":
            now = o.now or datetime.now(UTC)
            created = _timestamp(o.text("metadata.creationTimestamp", ""))
            # A Pod without a readable creation time has waited long enough.
            if created is not None and now - SCHEDULE_WINDOW < created:
                return _in_progress("PodNotScheduled", "Pod: not yet scheduled")
            detail = f" ({scheduled.message})" if scheduled.message else ""
            return _failed("PodUnschedulable", f"Pod: cannot be scheduled{detail}")
        return _in_progress("PodPending", "Pod: pending")
    if not phase:
        return _in_progress("PodNotObserved", "Pod: phase not yet reported")
    return Result(Status.UNKNOWN, f"Pod: unknown phase {phase!r}")


def _crash_looping(o: _Object) -> str:
    statuses = o.field("status.containerStatuses")
    names = [
        str(cs.get("name"))
        for cs in (statuses if isinstance(statuses, list) else [])
        if isinstance(cs, Mapping) and _dig(cs, "state.waiting.reason") == "CrashLoopBackOff"
    ]
    return ", ".join(names)


def _timestamp(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _persistent_volume_claim(o: _Object) -> Result:
    phase = o.text("status.phase", "")
    if phase != "Bound":
        return _in_progress("NotBound", f"PersistentVolumeClaim: not bound (phase {phase or '-'})")
    return _current("PersistentVolumeClaim: bound")


def _service(o: _Object) -> Result:
    if o.text("spec.type", "ClusterIP") == "LoadBalancer" and not o.text("spec.clusterIP", ""):
        return _in_progress("NoIPAssigned", "Service: LoadBalancer without a cluster IP yet")
    return _current("Service: ready")


def _pod_disruption_budget(o: _Object) -> Result:
    # Reached only once observedGeneration caught up, which means disruptions were computed.
    return _current("PodDisruptionBudget: allowed disruptions computed")


def _custom_resource_definition(o: _Object) -> Result:
    for c in o.conditions:
        if c.type == "NamesAccepted" and c.status == "False":
            detail = c.message or "names not accepted"
            return _failed(c.reason or "NamesNotAccepted", f"CustomResourceDefinition: {detail}")
        if c.type == "Established" and c.status == "False" and c.reason != "Installing":
            detail = c.message or "not established"
            return _failed(c.reason or "NotEstablished", f"CustomResourceDefinition: {detail}")
        if c.type == "Established" and c.status == "True":
            return _current("CustomResourceDefinition: established")
    return _in_progress("Installing", "CustomResourceDefinition: being installed")


_RULES: Final[Mapping[tuple[str, str], Callable[[_Object], Result]]] = {
    ("", "ConfigMap"): _always_ready,
    ("", "Secret"): _always_ready,
    ("", "Pod"): _pod,
    ("", "PersistentVolumeClaim"): _persistent_volume_claim,
    ("", "Service"): _service,
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _stateful_set,
    ("apps", "DaemonSet"): _daemon_set,
    ("apps", "ReplicaSet"): _replica_set,
    # Old clusters and old manifests still serve these kinds from the extensions group.
    ("extensions", "Deployment"): _deployment,
    ("extensions", "DaemonSet"): _daemon_set,
    ("extensions", "ReplicaSet"): _replica_set,
    ("batch", "Job"): _job,
    ("batch", "CronJob"): _always_ready,
    ("policy", "PodDisruptionBudget"): _pod_disruption_budget,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _custom_resource_definition,
}

"""Conditions on an object's status, kept the way Flux's controllers keep them.

Where it fits: every reconciler ends by patching its object's status, and this module is how it
writes `status.conditions`. The conditions follow the kstatus convention (Ready, plus the
abnormal-true Reconciling and Stalled), so `kube.kstatus`, `kubectl wait --for=condition=Ready`
and the Flux CLI read our objects exactly as they read Flux's.

A reconciler needs four moves, each one call:

    mark_reconciling  Reconciling=True, Ready=Unknown       work is under way; say what
    mark_ready        Ready=True                            done; Reconciling and Stalled go
    mark_stalled      Stalled=True, Ready=False             no retry until the spec changes
    mark_retrying     Ready=False, Reconciling=True         failed, will try again
                      (reason ProgressingWithRetry)

Each takes the status as a dict (as the API server sends it) or as a status model of `api/`
(`meta.ObjectStatus` and its subclasses), for the typed reconcilers; the rules are the same
code for both.

`set_condition` underneath keeps lastTransitionTime fixed while the status value stays the same,
so the time answers "since when has this been false", and keeps the list in a stable order so an
unchanged status patches as unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final, Literal, NotRequired, TypedDict, cast

from kidp_gitops.api import meta

# Condition types.
READY: Final = "Ready"
RECONCILING: Final = "Reconciling"
STALLED: Final = "Stalled"
HEALTHY: Final = "Healthy"  # Kustomization: the health checks passed

# Reasons, as Flux spells them, so alerts and dashboards written for Flux match ours.
SUCCEEDED: Final = "Succeeded"
FAILED: Final = "Failed"
PROGRESSING: Final = "Progressing"
PROGRESSING_WITH_RETRY: Final = "ProgressingWithRetry"
RECONCILIATION_SUCCEEDED: Final = "ReconciliationSucceeded"
RECONCILIATION_FAILED: Final = "ReconciliationFailed"
DEPENDENCY_NOT_READY: Final = "DependencyNotReady"
SUSPENDED: Final = "Suspended"
ARTIFACT_FAILED: Final = "ArtifactFailed"
BUILD_FAILED: Final = "BuildFailed"
HEALTH_CHECK_FAILED: Final = "HealthCheckFailed"
PRUNE_FAILED: Final = "PruneFailed"
GIT_OPERATION_FAILED: Final = "GitOperationFailed"
AUTHENTICATION_FAILED: Final = "AuthenticationFailed"

# Far below the API server's own limit (32768) on purpose: a condition is read by people in
# `kubectl get`, and a full build log belongs in an event or the controller's log.
MAX_MESSAGE_LENGTH: Final = 4096
_TRUNCATED: Final = " … (truncated)"

ConditionStatus = Literal["True", "False", "Unknown"]

Status = dict[str, Any] | meta.ObjectStatus
"""A status as the API server sends it, or typed."""


class Condition(TypedDict):
    """One entry of `status.conditions`, as metav1.Condition serializes it."""

    type: str
    status: ConditionStatus
    reason: str
    message: str
    observedGeneration: NotRequired[int]
    lastTransitionTime: str


# The API server rejects a status whose reason or type breaks these patterns, and with it the
# whole status patch, so a bad constant must fail here, where the traceback points at it.
_REASON: Final = re.compile(r"[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?")
_TYPE: Final = re.compile(
    r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
)

# The kstatus conditions lead, Ready first; the rest follow sorted by type.
_LEADING: Final = {READY: 0, RECONCILING: 1, STALLED: 2}


def set_condition(
    status: Status,
    condition_type: str,
    status_value: ConditionStatus,
    reason: str,
    message: str,
    observed_generation: int,
    *,
    now: datetime | None = None,
) -> None:
    """Add or replace the condition of `condition_type` in `status`, in place. `now` must be
    timezone-aware; it defaults to the clock."""
    if not _TYPE.fullmatch(condition_type) or len(condition_type) > 316:
        raise ValueError(f"invalid condition type {condition_type!r}")
    if not _REASON.fullmatch(reason) or len(reason) > 1024:
        raise ValueError(f"invalid condition reason {reason!r}")
    if status_value not in ("True", "False", "Unknown"):
        raise ValueError(f"invalid condition status {status_value!r}")
    with _plain(status) as plain:
        others = [c for c in _conditions(plain) if c["type"] != condition_type]
        previous = get(plain, condition_type)
        if previous is not None and previous["status"] == status_value:
            transitioned = previous.get("lastTransitionTime") or _timestamp(now)
        else:
            transitioned = _timestamp(now)
        condition: Condition = {
            "type": condition_type,
            "status": status_value,
            "reason": reason,
            "message": _truncate(message),
            "observedGeneration": observed_generation,
            "lastTransitionTime": transitioned,
        }
        plain["conditions"] = sorted([*others, condition], key=_order)


def get(status: dict[str, Any], condition_type: str) -> Condition | None:
    """The condition of `condition_type`, or None."""
    return next((c for c in _conditions(status) if c["type"] == condition_type), None)


def is_true(status: dict[str, Any], condition_type: str) -> bool:
    condition = get(status, condition_type)
    return condition is not None and condition["status"] == "True"


def remove(status: Status, condition_type: str) -> None:
    with _plain(status) as plain:
        if "conditions" in plain:
            plain["conditions"] = [c for c in _conditions(plain) if c["type"] != condition_type]


def mark_reconciling(
    status: Status,
    reason: str,
    message: str,
    observed_generation: int,
    *,
    now: datetime | None = None,
) -> None:
    """Work has started: `message` says what is happening, e.g. "building manifests"."""
    remove(status, STALLED)
    set_condition(status, RECONCILING, "True", reason, message, observed_generation, now=now)
    set_condition(status, READY, "Unknown", reason, message, observed_generation, now=now)


def mark_ready(
    status: Status,
    reason: str,
    message: str,
    observed_generation: int,
    *,
    now: datetime | None = None,
) -> None:
    """The object reached its desired state."""
    remove(status, RECONCILING)
    remove(status, STALLED)
    set_condition(status, READY, "True", reason, message, observed_generation, now=now)


def mark_stalled(
    status: Status,
    reason: str,
    message: str,
    observed_generation: int,
    *,
    now: datetime | None = None,
) -> None:
    """The object cannot progress until its spec changes; nothing will retry."""
    remove(status, RECONCILING)
    set_condition(status, STALLED, "True", reason, message, observed_generation, now=now)
    set_condition(status, READY, "False", reason, message, observed_generation, now=now)


def mark_retrying(
    status: Status,
    reason: str,
    message: str,
    observed_generation: int,
    *,
    now: datetime | None = None,
) -> None:
    """This attempt failed for `reason` and another will follow, so kstatus readers keep
    waiting (InProgress) instead of giving up (Failed)."""
    remove(status, STALLED)
    set_condition(status, READY, "False", reason, message, observed_generation, now=now)
    set_condition(
        status, RECONCILING, "True", PROGRESSING_WITH_RETRY, message, observed_generation, now=now
    )


@contextmanager
def _plain(status: Status) -> Iterator[dict[str, Any]]:
    """`status` as a dict to edit: itself, or a typed status's conditions as dicts, put
    back (as models) when they changed, so an untouched status stays as it was read."""
    if isinstance(status, dict):
        yield status
        return
    before = [
        c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in status.conditions
    ]
    plain: dict[str, Any] = (
        {"conditions": before} if "conditions" in status.model_fields_set else {}
    )
    yield plain
    after = plain.get("conditions")
    if after is not None and after != before:
        status.conditions = [meta.Condition.model_validate(c) for c in after]


def _conditions(status: dict[str, Any]) -> list[Condition]:
    # Entries that are not conditions at all cannot be patched back; they are dropped on write.
    entries = status.get("conditions")
    if not isinstance(entries, list):
        return []
    return [
        cast(Condition, c)
        for c in entries
        if isinstance(c, dict) and isinstance(c.get("type"), str)
    ]


def _order(condition: Condition) -> tuple[int, str]:
    return _LEADING.get(condition["type"], len(_LEADING)), condition["type"]


def _truncate(message: str) -> str:
    if len(message) <= MAX_MESSAGE_LENGTH:
        return message
    return message[: MAX_MESSAGE_LENGTH - len(_TRUNCATED)] + _TRUNCATED


def _timestamp(now: datetime | None) -> str:
    moment = datetime.now(UTC) if now is None else now
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    # RFC 3339 at second precision, the form metav1.Time serializes to.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

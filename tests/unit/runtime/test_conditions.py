"""Conditions are written the way Flux writes them, and kstatus reads the result as intended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from kidp_gitops.kube import kstatus
from kidp_gitops.runtime import conditions

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def kustomization(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system", "generation": 3},
        "spec": {"interval": "10m", "path": "./apps", "prune": True},
        "status": {"observedGeneration": 3, **status},
    }


def test_a_new_condition_has_every_field_and_a_second_precision_utc_time() -> None:
    status: dict[str, Any] = {}
    berlin = timezone(timedelta(hours=2))
    now = datetime(2024, 5, 1, 14, 0, 7, 987654, tzinfo=berlin)
    conditions.set_condition(
        status, "Ready", "True", "Succeeded", "Applied main@sha1:ab", 3, now=now
    )
    assert status["conditions"] == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Succeeded",
            "message": "Applied main@sha1:ab",
            "observedGeneration": 3,
            "lastTransitionTime": "2024-05-01T12:00:07Z",
        }
    ]


def test_the_transition_time_stays_while_the_status_value_stays() -> None:
    status: dict[str, Any] = {}
    conditions.set_condition(status, "Ready", "False", "BuildFailed", "bad yaml", 1, now=T0)
    conditions.set_condition(status, "Ready", "False", "PruneFailed", "forbidden", 2, now=T1)
    assert status["conditions"] == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "PruneFailed",
            "message": "forbidden",
            "observedGeneration": 2,
            "lastTransitionTime": "2024-05-01T12:00:00Z",
        }
    ]


def test_the_transition_time_moves_when_the_status_value_changes() -> None:
    status: dict[str, Any] = {}
    conditions.set_condition(status, "Ready", "False", "BuildFailed", "bad yaml", 1, now=T0)
    conditions.set_condition(status, "Ready", "True", "Succeeded", "applied", 1, now=T1)
    ready = conditions.get(status, "Ready")
    assert ready is not None
    assert ready["lastTransitionTime"] == "2024-05-01T12:05:00Z"


def test_a_condition_read_from_the_server_without_a_time_gets_one() -> None:
    status: dict[str, Any] = {"conditions": [{"type": "Ready", "status": "True"}]}
    conditions.set_condition(status, "Ready", "True", "Succeeded", "applied", 1, now=T1)
    assert status["conditions"][0]["lastTransitionTime"] == "2024-05-01T12:05:00Z"


def test_conditions_keep_a_stable_order_with_ready_first() -> None:
    status: dict[str, Any] = {}
    for condition_type in ("Healthy", "Stalled", "ArtifactInStorage", "Reconciling", "Ready"):
        conditions.set_condition(status, condition_type, "True", "Succeeded", "", 1, now=T0)
    order = [c["type"] for c in status["conditions"]]
    assert order == ["Ready", "Reconciling", "Stalled", "ArtifactInStorage", "Healthy"]


def test_conditions_set_by_others_are_kept() -> None:
    foreign = {
        "type": "example.com/Audited",
        "status": "True",
        "reason": "Checked",
        "message": "",
        "lastTransitionTime": "2023-01-01T00:00:00Z",
    }
    status: dict[str, Any] = {"conditions": [foreign]}
    conditions.set_condition(status, "Ready", "True", "Succeeded", "applied", 1, now=T0)
    assert status["conditions"][1] == foreign


def test_duplicates_and_junk_entries_are_dropped_on_write() -> None:
    status: dict[str, Any] = {
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "A", "message": "a"},
            "not a condition",
            {"status": "True"},
            {"type": "Ready", "status": "False", "reason": "B", "message": "b"},
        ]
    }
    conditions.set_condition(status, "Ready", "True", "Succeeded", "applied", 1, now=T0)
    assert [(c["type"], c["reason"]) for c in status["conditions"]] == [("Ready", "Succeeded")]


def test_long_messages_are_truncated_to_the_maximum() -> None:
    status: dict[str, Any] = {}
    limit = conditions.MAX_MESSAGE_LENGTH
    conditions.set_condition(status, "Ready", "False", "BuildFailed", "x" * limit, 1, now=T0)
    assert status["conditions"][0]["message"] == "x" * limit

    conditions.set_condition(status, "Ready", "False", "BuildFailed", "y" * 100_000, 1, now=T0)
    message = status["conditions"][0]["message"]
    assert len(message) == limit
    assert message.startswith("yyyy")
    assert message.endswith("(truncated)")


@pytest.mark.parametrize(
    ("condition_type", "reason"),
    [
        ("Ready", "Build failed"),
        ("Ready", "1stAttempt"),
        ("Ready", ""),
        ("Ready", "Trailing:"),
        ("", "Succeeded"),
        ("Not Ready", "Succeeded"),
    ],
)
def test_types_and_reasons_the_api_server_would_reject_raise(
    condition_type: str, reason: str
) -> None:
    with pytest.raises(ValueError, match="invalid condition"):
        conditions.set_condition({}, condition_type, "True", reason, "", 1, now=T0)


def test_an_unknown_status_value_raises() -> None:
    with pytest.raises(ValueError, match="invalid condition status"):
        conditions.set_condition({}, "Ready", "Yes", "Succeeded", "", 1, now=T0)  # type: ignore[arg-type]


def test_a_naive_clock_raises_rather_than_guessing_the_zone() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        conditions.set_condition({}, "Ready", "True", "Succeeded", "", 1, now=datetime(2024, 1, 1))


def test_without_a_clock_given_the_current_time_is_used() -> None:
    status: dict[str, Any] = {}
    before = datetime.now(UTC).replace(microsecond=0)
    conditions.set_condition(status, "Ready", "True", "Succeeded", "", 1)
    stamp = datetime.fromisoformat(status["conditions"][0]["lastTransitionTime"])
    assert before <= stamp <= datetime.now(UTC)


def test_get_is_true_and_remove() -> None:
    status: dict[str, Any] = {}
    assert conditions.get(status, "Ready") is None
    assert not conditions.is_true(status, "Ready")
    conditions.set_condition(status, "Ready", "True", "Succeeded", "applied", 1, now=T0)
    conditions.set_condition(status, "Healthy", "Unknown", "Progressing", "checking", 1, now=T0)
    assert conditions.is_true(status, "Ready")
    assert not conditions.is_true(status, "Healthy")
    conditions.remove(status, "Ready")
    assert conditions.get(status, "Ready") is None
    assert [c["type"] for c in status["conditions"]] == ["Healthy"]


def test_removing_from_a_status_without_conditions_adds_nothing() -> None:
    status: dict[str, Any] = {"observedGeneration": 1}
    conditions.remove(status, "Stalled")
    assert status == {"observedGeneration": 1}


def test_mark_reconciling_says_what_is_happening_and_makes_ready_unknown() -> None:
    status: dict[str, Any] = {}
    conditions.mark_stalled(status, "BuildFailed", "bad yaml", 2, now=T0)
    conditions.mark_reconciling(status, "Progressing", "building manifests", 3, now=T1)
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in status["conditions"]] == [
        ("Ready", "Unknown", "Progressing", "building manifests"),
        ("Reconciling", "True", "Progressing", "building manifests"),
    ]
    assert kstatus.compute(kustomization(status)).status is kstatus.Status.IN_PROGRESS


def test_mark_ready_clears_reconciling_and_stalled() -> None:
    status: dict[str, Any] = {}
    conditions.mark_reconciling(status, "Progressing", "applying", 3, now=T0)
    conditions.set_condition(status, "Stalled", "True", "BuildFailed", "old", 3, now=T0)
    conditions.set_condition(status, "Healthy", "True", "Succeeded", "all healthy", 3, now=T0)
    conditions.mark_ready(status, "ReconciliationSucceeded", "Applied main@sha1:ab", 3, now=T1)
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("Ready", "True", "ReconciliationSucceeded"),
        ("Healthy", "True", "Succeeded"),
    ]
    verdict = kstatus.compute(kustomization(status))
    assert verdict == kstatus.Result(kstatus.Status.CURRENT, "Applied main@sha1:ab")


def test_mark_stalled_sets_ready_false_with_the_same_reason() -> None:
    status: dict[str, Any] = {}
    conditions.mark_reconciling(status, "Progressing", "building", 3, now=T0)
    conditions.mark_stalled(status, "BuildFailed", "kustomization.yaml: unknown field", 3, now=T1)
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("Ready", "False", "BuildFailed"),
        ("Stalled", "True", "BuildFailed"),
    ]
    verdict = kstatus.compute(kustomization(status))
    assert verdict.status is kstatus.Status.FAILED
    assert verdict.message == "kustomization.yaml: unknown field"


def test_mark_retrying_keeps_reconciling_so_waiters_keep_waiting() -> None:
    status: dict[str, Any] = {}
    conditions.mark_stalled(status, "BuildFailed", "old failure", 2, now=T0)
    conditions.mark_retrying(status, "HealthCheckFailed", "Deployment/web not ready", 3, now=T1)
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in status["conditions"]] == [
        ("Ready", "False", "HealthCheckFailed", "Deployment/web not ready"),
        ("Reconciling", "True", "ProgressingWithRetry", "Deployment/web not ready"),
    ]
    assert kstatus.compute(kustomization(status)).status is kstatus.Status.IN_PROGRESS


def test_ready_keeps_its_transition_time_across_failed_attempts() -> None:
    status: dict[str, Any] = {}
    conditions.mark_retrying(status, "ArtifactFailed", "source not found", 1, now=T0)
    conditions.mark_retrying(status, "ArtifactFailed", "source not ready", 1, now=T1)
    ready = conditions.get(status, "Ready")
    assert ready is not None
    assert ready["lastTransitionTime"] == "2024-05-01T12:00:00Z"
    assert ready["message"] == "source not ready"

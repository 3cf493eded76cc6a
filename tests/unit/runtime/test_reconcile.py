"""The reconcile contract: requests, results, the retry errors, and the rules in `decide`."""

from __future__ import annotations

import logging

import pytest

from kidp_gitops.runtime import reconcile
from kidp_gitops.runtime.reconcile import (
    Decision,
    ReconcileError,
    Request,
    Result,
    StalledError,
    WaitingError,
)


def test_request_reads_as_namespace_slash_name() -> None:
    assert str(Request("flux-system", "apps")) == "flux-system/apps"
    assert str(Request("", "cluster-admins")) == "cluster-admins"


def test_requests_are_usable_as_queue_keys() -> None:
    assert {Request("ns", "a"), Request("ns", "a"), Request("ns", "b")} == {
        Request("ns", "a"),
        Request("ns", "b"),
    }


def test_negative_delays_are_refused() -> None:
    with pytest.raises(ValueError, match="requeue_after"):
        Result(requeue_after=-1)
    with pytest.raises(ValueError, match="retry_after"):
        WaitingError("DependencyNotReady", "waiting for infrastructure", retry_after=-1)


def test_a_decision_cannot_both_back_off_and_requeue_after() -> None:
    with pytest.raises(ValueError, match="not both"):
        Decision(requeue_after=1, backoff=True)


def test_errors_carry_their_flux_reason() -> None:
    waiting = WaitingError("DependencyNotReady", "dependency 'infra' is not ready", 30)
    assert (waiting.reason, str(waiting), waiting.retry_after) == (
        "DependencyNotReady",
        "dependency 'infra' is not ready",
        30,
    )
    stalled = StalledError("URLInvalid", "unsupported scheme 'ftp'")
    assert isinstance(stalled, ReconcileError)
    assert (stalled.reason, stalled.message) == ("URLInvalid", "unsupported scheme 'ftp'")


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        pytest.param(Result(), Decision(), id="success-forgets"),
        pytest.param(Result(requeue_after=600), Decision(requeue_after=600), id="success-interval"),
        pytest.param(
            WaitingError("DependencyNotReady", "not ready", retry_after=30),
            Decision(requeue_after=30),
            id="waiting-requeues-after-delay",
        ),
        pytest.param(StalledError("BuildFailed", "bad path"), Decision(), id="stalled-no-retry"),
        pytest.param(
            ReconcileError("ArtifactFailed", "fetch failed"),
            Decision(backoff=True),
            id="reason-only-is-transient",
        ),
        pytest.param(ConnectionResetError("peer reset"), Decision(backoff=True), id="transient"),
    ],
)
def test_decide_applies_the_retry_rules(outcome: Result | Exception, expected: Decision) -> None:
    assert reconcile.decide(outcome) == expected


class _Scripted:
    """A reconciler that returns or raises what it is given."""

    def __init__(self, outcome: Result | Exception) -> None:
        self.outcome = outcome
        self.requests: list[Request] = []

    async def reconcile(self, request: Request) -> Result:
        self.requests.append(request)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


async def test_reconcile_once_turns_a_result_into_a_decision() -> None:
    reconciler = _Scripted(Result(requeue_after=60))
    decision = await reconcile.reconcile_once(reconciler, Request("ns", "app"))
    assert decision == Decision(requeue_after=60)
    assert reconciler.requests == [Request("ns", "app")]


async def test_reconcile_once_logs_unclassified_errors_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=reconcile.__name__)
    stalled = _Scripted(StalledError("BuildFailed", "kustomization.yaml not found"))
    assert await reconcile.reconcile_once(stalled, Request("ns", "a")) == Decision()
    assert caplog.records == []

    broken = _Scripted(KeyError("spec"))
    assert await reconcile.reconcile_once(broken, Request("ns", "b")) == Decision(backoff=True)
    [record] = caplog.records
    assert "ns/b" in record.getMessage()
    assert record.exc_info is not None

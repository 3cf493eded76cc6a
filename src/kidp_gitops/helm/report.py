"""The HelmRelease's status, written in one place from what a reconcile's steps return.

The reconciler's steps find things and act (the HelmChart, Helm's storage, install,
upgrade, test, drift) and return what happened; these functions turn that into status
fields and conditions, with Flux's reasons and words. Nothing else in `helm` assigns a
field of the status (the failure counters go through `remediation`, from here).

    inputs(status, helm_chart, storage_namespace)    where the chart and the release live
    attempting(status, chart, wanted, verb, ...)      the lastAttempted* fields, Reconciling
    ended(status, ended, ...)                         an install or upgrade: history,
                                                      Released (and Ready), failures counted
    testing(status, …) / tested(status, stored)       a helm test under way, and after it
    test_failed_action(status, …)                     a failed test failed its action
    test_result(status, result, generation)           TestSuccess
    drifted(status, message, generation)              Drifted
    kept(status, stored, …) / in_sync(status, …)      a release already as wanted
    succeeded(status)                                 the attempt is over, well
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kidp_gitops.api import helm as api
from kidp_gitops.helm import action, chart, release, remediation, test
from kidp_gitops.runtime import conditions
from kidp_gitops.runtime.reconcile import ReconcileError

RELEASED = "Released"
DRIFTED = "Drifted"
DRIFT_DETECTED = "DriftDetected"
MAX_HISTORY_IN_STATUS = 5


@dataclass(frozen=True)
class Ended:
    """How an install or upgrade ended, its remedy done when it failed."""

    verb: Literal["install", "upgrade"]
    reason: str
    """InstallSucceeded, UpgradeFailed, …"""
    message: str
    stored: list[release.Revision]
    """Helm's history of the release afterwards, newest first."""
    error: ReconcileError | None = None
    """What follows a failure (stalled, retried); None: released."""


def inputs(status: api.HelmReleaseStatus, helm_chart: str | None, storage_namespace: str) -> None:
    """The HelmChart made for the release ('namespace/name'; None with chartRef) and the
    namespace Helm stores the release in."""
    status.helm_chart = helm_chart
    status.storage_namespace = storage_namespace


def attempting(
    status: api.HelmReleaseStatus,
    found: chart.Chart,
    wanted: action.Wanted,
    verb: Literal["install", "upgrade"],
    ref: str,
    *,
    fresh: bool,
) -> None:
    """An install or upgrade is about to run; `fresh`: for another chart, values or
    generation than the last attempt, whose failures no longer count."""
    if fresh:
        remediation.clear(status)
    status.last_attempted_revision = found.revision
    status.last_attempted_revision_digest = found.digest
    status.last_attempted_config_digest = wanted.config_digest
    status.last_attempted_values_checksum = wanted.config_digest.removeprefix("sha256:")
    status.last_attempted_generation = wanted.generation
    status.last_attempted_release_action = verb
    conditions.mark_reconciling(
        status,
        conditions.PROGRESSING,
        f"Running helm {verb} for release {ref} with chart revision {found.revision}",
        wanted.generation,
    )


def ended(
    status: api.HelmReleaseStatus,
    done: Ended,
    generation: int,
    *,
    revision: str,
    post_renderers: str | None,
) -> None:
    """The history after the action, and its outcome: Released (and Ready) with the
    chart `revision` and post-renderers' digest applied, or the failure counted."""
    history(status, done.stored)
    if done.error is not None:
        remediation.failed(status, done.verb)
        _released(status, "False", done.reason, done.message, generation)
        return
    status.last_applied_revision = revision
    status.observed_post_renderers_digest = post_renderers
    if done.stored:
        status.last_release_revision = done.stored[0].version
    _released(status, "True", done.reason, done.message, generation)
    conditions.mark_ready(status, done.reason, done.message, generation)


def testing(status: api.HelmReleaseStatus, ref: str, generation: int) -> None:
    conditions.set_condition(
        status,
        conditions.RECONCILING,
        "True",
        conditions.PROGRESSING,
        f"Running helm test for release {ref}",
        generation,
    )


def tested(status: api.HelmReleaseStatus, stored: list[release.Revision]) -> None:
    """helm test is done: its result is in the history Helm keeps."""
    history(status, stored)
    conditions.remove(status, conditions.RECONCILING)


def untested(status: api.HelmReleaseStatus) -> None:
    """Tests are not enabled: no TestSuccess condition."""
    conditions.remove(status, test.CONDITION)


def test_failed_action(
    status: api.HelmReleaseStatus,
    verb: Literal["install", "upgrade"],
    result: test.Outcome,
    stored: list[release.Revision],
    generation: int,
    *,
    retried: bool,
) -> None:
    """A failed test counted as a failure of the install or upgrade before it (its
    remedy done, `stored` the history after it), in this generation's attempt;
    `retried`: another attempt follows."""
    remediation.failed(status, verb)
    status.last_attempted_generation = generation
    history(status, stored)
    reason = "InstallFailed" if verb == "install" else "UpgradeFailed"
    _released(status, "False", reason, result.message, generation)
    if retried:
        test_result(status, result, generation)


def test_result(status: api.HelmReleaseStatus, result: test.Outcome, generation: int) -> None:
    value: conditions.ConditionStatus = "True" if result.passed else "False"
    conditions.set_condition(
        status, test.CONDITION, value, result.reason, result.message, generation
    )


def drifted(status: api.HelmReleaseStatus, message: str | None, generation: int) -> bool:
    """The Drifted condition with `message` (None: no drift left); whether it says
    something new."""
    if message is None:
        conditions.remove(status, DRIFTED)
        return False
    said = status.condition(DRIFTED)
    conditions.set_condition(status, DRIFTED, "True", DRIFT_DETECTED, message, generation)
    return said is None or said.message != message


def kept(
    status: api.HelmReleaseStatus,
    stored: list[release.Revision],
    generation: int,
    *,
    after_failures: bool,
) -> None:
    """The release is as wanted, no action needed: after failures, a new generation
    made it so, and is the last attempt now, with nothing failed."""
    history(status, stored)
    if after_failures:
        remediation.clear(status)
        status.last_attempted_generation = generation


def in_sync(status: api.HelmReleaseStatus, latest: release.Revision, generation: int) -> None:
    """Ready for this generation, in the words of the last successful action (the
    Released condition), as Flux keeps them."""
    released = status.condition(RELEASED)
    if released is not None and released.status == "True":
        conditions.mark_ready(status, released.reason, released.message, generation)
    else:
        conditions.mark_ready(
            status,
            conditions.RECONCILIATION_SUCCEEDED,
            f"Helm release {latest.ref} is up to date",
            generation,
        )


def succeeded(status: api.HelmReleaseStatus) -> None:
    """Released, and tested when asked: the failures counted are forgotten."""
    remediation.clear(status)


def history(status: api.HelmReleaseStatus, stored: list[release.Revision]) -> None:
    """The newest revisions Helm keeps as `status.history`."""
    status.history = [
        api.Snapshot.model_validate(r.snapshot()) for r in stored[:MAX_HISTORY_IN_STATUS]
    ]


def _released(
    status: api.HelmReleaseStatus,
    value: conditions.ConditionStatus,
    reason: str,
    message: str,
    generation: int,
) -> None:
    """Flux's Released condition: the outcome of the last install or upgrade."""
    conditions.set_condition(status, RELEASED, value, reason, message, generation)

"""What follows a failed install or upgrade, by the HelmRelease's remediation settings.

    upcoming(status, action) -> count            the count a failure of `action` would make
    failed(status, action) -> count              counts the failure in the status
    after_install_failure(spec, failures) -> Plan
    after_upgrade_failure(spec, failures) -> Plan
    ignores_test_failures(spec, action) -> bool
    last_attempt(spec, status) -> action.LastAttempt

Under the action's strategy `RemediateOnFailure` (the default), a failure (a failed helm
test after the action included, unless test failures are ignored) is retried while
`retries` allow (negative: without end); each retry is preceded by the remediation
(uninstall a failed install; roll back, or uninstall, a failed upgrade). When the retries
are spent the release is Stalled, remediated only if `remediateLastFailure` says so (for
upgrades: true by default when retries > 0).

Under `RetryOnFailure` (helm-controller 1.6), `remediation` does not apply: the failed
release stays as helm left it, and is retried every `retryInterval` without end, by an
upgrade (a failed install too: helm upgrades a release whose only revision failed). Which
strategy is in force follows the action last attempted, as in Flux: once a failed install
is retried by an upgrade, `upgrade.strategy` decides what follows that upgrade's failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kidp_gitops.api import helm as api
from kidp_gitops.helm import action


@dataclass(frozen=True)
class Plan:
    remedy: Literal["uninstall", "rollback"] | None
    stalled: bool
    """No retry until the spec, chart or values change."""
    retry_after: float | None = None
    """RetryOnFailure: no remedy; the same action again after these seconds."""


def failed(status: api.HelmReleaseStatus, verb: Literal["install", "upgrade"]) -> int:
    """Count a failure of `verb`; returns how often this attempt has failed."""
    status.failures = (status.failures or 0) + 1
    if verb == "install":
        status.install_failures = (status.install_failures or 0) + 1
        return status.install_failures
    status.upgrade_failures = (status.upgrade_failures or 0) + 1
    return status.upgrade_failures


def upcoming(status: api.HelmReleaseStatus, verb: Literal["install", "upgrade"]) -> int:
    """How often this attempt will have failed if `verb` fails now (`failed` counts it)."""
    counted = status.install_failures if verb == "install" else status.upgrade_failures
    return (counted or 0) + 1


def clear(status: api.HelmReleaseStatus) -> None:
    """Forget the failures counted (None removes the fields from the status)."""
    status.failures = status.install_failures = status.upgrade_failures = None


def after_install_failure(spec: api.HelmReleaseSpec, failures: int) -> Plan:
    if (interval := spec.retry_after_failure("install")) is not None:
        return Plan(None, stalled=False, retry_after=interval.seconds)
    r = spec.install_remediation()
    exhausted = 0 <= r.retries < failures
    if exhausted:
        return Plan("uninstall" if r.remediate_last_failure else None, stalled=True)
    # The failed release is uninstalled before the next install (see action.decide).
    return Plan(None, stalled=False)


def after_upgrade_failure(spec: api.HelmReleaseSpec, failures: int) -> Plan:
    if (interval := spec.retry_after_failure("upgrade")) is not None:
        return Plan(None, stalled=False, retry_after=interval.seconds)
    r = spec.upgrade_remediation()
    exhausted = 0 <= r.retries < failures
    remedy: Literal["uninstall", "rollback"] = (
        "uninstall" if r.effective_strategy() == "uninstall" else "rollback"
    )
    if exhausted and not r.must_remediate_last_failure():
        return Plan(None, stalled=True)
    return Plan(remedy, stalled=exhausted)


def ignores_test_failures(spec: api.HelmReleaseSpec, verb: Literal["install", "upgrade"]) -> bool:
    """A failed test after `verb` is not remediated: `remediation.ignoreTestFailures`,
    else `test.ignoreFailures`, as Flux defaults it."""
    r = spec.install_remediation() if verb == "install" else spec.upgrade_remediation()
    if r.ignore_test_failures is not None:
        return r.ignore_test_failures
    return spec.test is not None and spec.test.ignore_failures


def last_attempt(spec: api.HelmReleaseSpec, status: api.HelmReleaseStatus) -> action.LastAttempt:
    attempted = status.last_attempted_release_action
    if attempted == "install":
        failures, retries = status.install_failures, spec.install_remediation().retries
    else:
        failures, retries = status.upgrade_failures, spec.upgrade_remediation().retries
    return action.LastAttempt(
        chart_digest=status.last_attempted_revision_digest,
        config_digest=status.last_attempted_config_digest,
        generation=status.last_attempted_generation,
        release_digest=status.history[0].digest if status.history else None,
        action=attempted,
        failures=failures or 0,
        retries=retries,
        post_renderers_digest=status.observed_post_renderers_digest,
        retrying=attempted is not None and spec.retry_after_failure(attempted) is not None,
    )

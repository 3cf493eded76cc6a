"""What follows a failed install or upgrade, by the remediation settings."""

from __future__ import annotations

from typing import Any

from kidp_gitops.api import helm as api
from kidp_gitops.helm import remediation
from kidp_gitops.helm.remediation import Plan
from kidp_gitops.runtime import status as typed_status


def spec(**fields: Any) -> api.HelmReleaseSpec:
    chart = {"spec": {"chart": "c", "sourceRef": {"kind": "GitRepository", "name": "g"}}}
    return api.HelmReleaseSpec.model_validate({"chart": chart, **fields})


def test_defaults_stall_after_the_first_failure_without_remedy() -> None:
    assert remediation.after_install_failure(spec(), 1) == Plan(None, stalled=True)
    assert remediation.after_upgrade_failure(spec(), 1) == Plan(None, stalled=True)


def test_upgrade_retries_roll_back_then_stall_rolled_back() -> None:
    s = spec(upgrade={"remediation": {"retries": 2}})
    assert remediation.after_upgrade_failure(s, 1) == Plan("rollback", stalled=False)
    assert remediation.after_upgrade_failure(s, 2) == Plan("rollback", stalled=False)
    # remediateLastFailure defaults to true when retries > 0
    assert remediation.after_upgrade_failure(s, 3) == Plan("rollback", stalled=True)
    keep = spec(upgrade={"remediation": {"retries": 1, "remediateLastFailure": False}})
    assert remediation.after_upgrade_failure(keep, 2) == Plan(None, stalled=True)


def test_upgrade_uninstall_strategy_and_endless_retries() -> None:
    s = spec(upgrade={"remediation": {"retries": -1, "strategy": "uninstall"}})
    assert remediation.after_upgrade_failure(s, 100) == Plan("uninstall", stalled=False)


def test_helm_operator_rollback_enable_rolls_back_once() -> None:
    s = spec(rollback={"enable": True})
    assert remediation.after_upgrade_failure(s, 1) == Plan("rollback", stalled=True)


def test_install_retries_and_last_failure() -> None:
    s = spec(install={"remediation": {"retries": 1, "remediateLastFailure": True}})
    assert remediation.after_install_failure(s, 1) == Plan(None, stalled=False)
    assert remediation.after_install_failure(s, 2) == Plan("uninstall", stalled=True)


def test_retry_on_failure_retries_without_remedy_or_end() -> None:
    s = spec(
        install={"strategy": {"name": "RetryOnFailure", "retryInterval": "30s"}},
        upgrade={"strategy": {"name": "RetryOnFailure"}, "remediation": {"retries": 1}},
    )
    assert remediation.after_install_failure(s, 50) == Plan(None, stalled=False, retry_after=30)
    # remediation is not used, and retryInterval defaults to 5m
    assert remediation.after_upgrade_failure(s, 3) == Plan(None, stalled=False, retry_after=300)


def test_remediate_on_failure_is_the_default_strategy() -> None:
    s = spec(
        install={"strategy": {"name": "RetryOnFailure"}},
        upgrade={"strategy": {"name": "RemediateOnFailure"}, "remediation": {"retries": 1}},
    )
    assert remediation.after_upgrade_failure(s, 1) == Plan("rollback", stalled=False)
    assert remediation.after_upgrade_failure(spec(), 1) == Plan(None, stalled=True)


def test_the_strategy_in_force_follows_the_last_attempted_action() -> None:
    s = spec(install={"strategy": {"name": "RetryOnFailure"}})
    status = api.HelmReleaseStatus(last_attempted_release_action="install", install_failures=4)
    assert remediation.last_attempt(s, status).retrying
    assert not remediation.last_attempt(s, status).exhausted()
    # A failed install retried by an upgrade: upgrade's strategy (the default) decides.
    status.last_attempted_release_action = "upgrade"
    status.upgrade_failures = 1
    assert not remediation.last_attempt(s, status).retrying
    assert remediation.last_attempt(s, status).exhausted()


def test_failures_are_counted_and_cleared() -> None:
    status = api.HelmReleaseStatus()
    assert remediation.failed(status, "upgrade") == 1
    assert remediation.failed(status, "upgrade") == 2
    assert remediation.failed(status, "install") == 1
    wire = {"upgradeFailures": 2, "installFailures": 1, "failures": 3}
    assert typed_status.dump(status) == wire
    remediation.clear(status)
    assert typed_status.dump(status) == {}


def test_test_failures_are_remediated_unless_ignored() -> None:
    assert not remediation.ignores_test_failures(spec(test={"enable": True}), "upgrade")
    # remediation.ignoreTestFailures defaults to test.ignoreFailures
    ignoring = spec(test={"enable": True, "ignoreFailures": True})
    assert remediation.ignores_test_failures(ignoring, "install")
    assert remediation.ignores_test_failures(ignoring, "upgrade")
    own = spec(
        test={"enable": True, "ignoreFailures": True},
        upgrade={"remediation": {"ignoreTestFailures": False}},
    )
    assert not remediation.ignores_test_failures(own, "upgrade")
    assert remediation.ignores_test_failures(own, "install")

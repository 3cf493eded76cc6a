"""What the image reconcilers' errors lead to (their tables): the reasons and delays
they had when each raise site chose its own."""

from __future__ import annotations

import pytest

from kidp_gitops.api import image as api
from kidp_gitops.api import meta
from kidp_gitops.image import automation, imagepolicy, policy, registry, repository
from kidp_gitops.runtime.reconcile import ReconcileError, RetryError, StalledError, WaitingError
from kidp_gitops.runtime.tenancy import AccessDenied
from kidp_gitops.vcs import giterrors


@pytest.mark.parametrize(("interval", "after"), [("1s", 10.0), ("1m", 60.0), ("1h", 120.0)])
def test_a_failed_scan_is_retried_after_the_interval_within_bounds(
    interval: str, after: float
) -> None:
    spec = api.ImageRepositorySpec(image="ghcr.io/a/b", interval=meta.Duration(interval))
    err = repository.ERRORS.classify(registry.RegistryError("RegistryUnavailable", "503"), spec)
    assert isinstance(err, RetryError)
    assert (err.reason, err.retry_after) == ("RegistryUnavailable", after)


POLICY = api.ImagePolicySpec.model_construct()


@pytest.mark.parametrize(
    ("raised", "kind", "reason", "after"),
    [
        (
            ReconcileError(imagepolicy.DEPENDENCY_NOT_READY, "x"),
            WaitingError,
            "DependencyNotReady",
            10,
        ),
        (ReconcileError(imagepolicy.NO_MATCH, "x"), RetryError, "ReconciliationFailed", 300),
        (ReconcileError(imagepolicy.ACCESS_DENIED, "x"), RetryError, "AccessDenied", 60),
        (registry.RegistryError("ManifestUnknown", "x"), RetryError, "ManifestUnknown", 30),
        (policy.PolicyError("bad range"), StalledError, "InvalidPolicy", None),
    ],
)
def test_image_policy_errors(
    raised: Exception, kind: type[Exception], reason: str, after: float | None
) -> None:
    err = imagepolicy.ERRORS.classify(raised, POLICY)
    assert type(err) is kind
    assert isinstance(err, ReconcileError)
    assert err.reason == reason
    if after is not None:
        assert isinstance(err, WaitingError)
        assert err.retry_after == after


def test_the_lockdown_stays_stalled_whatever_the_table_says_of_its_reason() -> None:
    refused = AccessDenied("not in your namespace")
    assert imagepolicy.ERRORS.classify(refused, POLICY) is refused


AUTOMATION = api.ImageUpdateAutomationSpec.model_construct()


def test_automation_git_errors() -> None:
    bad_url = automation.ERRORS.classify(giterrors.InvalidURL("no scheme"), AUTOMATION)
    assert isinstance(bad_url, StalledError)
    assert bad_url.reason == automation.INVALID_SPEC
    push = automation.ERRORS.classify(giterrors.AuthenticationFailed("denied"), AUTOMATION)
    assert isinstance(push, RetryError)
    assert (push.reason, push.retry_after) == ("AuthenticationFailed", 30)
    source = automation.ERRORS.classify(ReconcileError("DependencyNotReady", "x"), AUTOMATION)
    assert type(source) is WaitingError
    assert source.retry_after == automation.SOURCE_RETRY_SECONDS

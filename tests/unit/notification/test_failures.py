"""What the Alert's and the Receiver's errors lead to (their tables)."""

from __future__ import annotations

from kidp_gitops.api import notification as api
from kidp_gitops.notification import alert, matching, receiver, secrets
from kidp_gitops.runtime.reconcile import ReconcileError, RetryError, StalledError, WaitingError

ALERT = api.AlertSpec.model_construct()
RECEIVER = api.ReceiverSpec.model_construct()


def test_an_alert_stalls_on_a_bad_pattern_and_waits_quietly_for_its_provider() -> None:
    bad = alert.ERRORS.classify(matching.InvalidPattern("inclusionList: '(' is not"), ALERT)
    assert isinstance(bad, StalledError)
    assert bad.reason == alert.INVALID_SPEC
    waiting = alert.ERRORS.classify(ReconcileError(alert.PROVIDER_NOT_FOUND, "no"), ALERT)
    assert isinstance(waiting, WaitingError)
    assert not isinstance(waiting, RetryError)  # a Normal event, not a Warning
    assert waiting.retry_after == alert.PROVIDER_RETRY_SECONDS


def test_a_receiver_waits_for_its_secret_and_token() -> None:
    missing = receiver.ERRORS.classify(secrets.SecretProblem("secret 'a/b' not found"), RECEIVER)
    assert isinstance(missing, WaitingError)
    assert (missing.reason, missing.message) == (
        receiver.SECRET_NOT_FOUND,
        "secret 'a/b' not found",
    )
    assert missing.retry_after == receiver.SECRET_RETRY_SECONDS
    no_token = receiver.ERRORS.classify(ReconcileError(receiver.TOKEN_NOT_FOUND, "no"), RECEIVER)
    assert isinstance(no_token, WaitingError)
    assert no_token.retry_after == receiver.SECRET_RETRY_SECONDS

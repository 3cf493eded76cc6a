"""What the source reconcilers' errors lead to (their tables)."""

from __future__ import annotations

from kidp_gitops.api import source as api
from kidp_gitops.runtime.reconcile import ReconcileError, StalledError, WaitingError
from kidp_gitops.source import gitrepository, helmchart
from kidp_gitops.vcs import giterrors

GIT = api.GitRepositorySpec.model_construct()
CHART = api.HelmChartSpec.model_construct()


def test_git_errors_stall_or_back_off_with_their_reason() -> None:
    url = gitrepository.ERRORS.classify(giterrors.InvalidURL("no host"), GIT)
    assert isinstance(url, StalledError)
    assert url.reason == "URLInvalid"
    ref = gitrepository.ERRORS.classify(giterrors.InvalidRef("bad semver"), GIT)
    assert isinstance(ref, StalledError)
    assert ref.reason == "InvalidSpec"
    auth = gitrepository.ERRORS.classify(giterrors.AuthenticationFailed("denied"), GIT)
    assert type(auth) is ReconcileError  # backoff, not a fixed delay
    assert (auth.reason, auth.message) == ("AuthenticationFailed", "denied")


def test_a_missing_include_or_chart_source_is_waited_for() -> None:
    include = gitrepository.ERRORS.classify(
        ReconcileError(gitrepository.INCLUDE_UNAVAILABLE, "x"), GIT
    )
    assert type(include) is WaitingError
    assert include.retry_after == gitrepository.INCLUDE_RETRY_SECONDS
    for reason in (helmchart.SOURCE_UNAVAILABLE, helmchart.NO_SOURCE_ARTIFACT):
        waiting = helmchart.ERRORS.classify(ReconcileError(reason, "x"), CHART)
        assert type(waiting) is WaitingError
        assert waiting.retry_after == helmchart.SOURCE_WAIT

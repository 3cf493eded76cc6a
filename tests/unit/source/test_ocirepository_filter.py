"""spec.ref.semverFilter is a tenant's regular expression: RE2, as Flux (Go) reads it."""

from __future__ import annotations

import pytest

from kidp_gitops.runtime.reconcile import StalledError
from kidp_gitops.source.ocirepository import semver_filter


def test_a_filter_matches_as_go_regexp() -> None:
    matcher = semver_filter(r"^v1\.\d+\.\d+-rc")
    assert matcher is not None
    assert matcher.search("v1.2.3-rc.1")
    assert not matcher.search("v2.0.0-rc.1")
    assert semver_filter(None) is None
    assert semver_filter("") is None


@pytest.mark.parametrize("pattern", [r"^(v)\1", r"^v(?=1)", "^v(1"])
def test_what_go_regexp_refuses_stalls_naming_the_field(pattern: str) -> None:
    with pytest.raises(StalledError) as err:
        semver_filter(pattern)
    assert "spec.ref.semverFilter" in str(err.value)
    assert "b'" not in str(err.value)


def test_a_catastrophic_pattern_runs_in_linear_time() -> None:
    # With a backtracking engine this search takes about 2^40 steps (days).
    matcher = semver_filter(r"^(a+)+$")
    assert matcher is not None
    assert not matcher.search("a" * 40 + "!")

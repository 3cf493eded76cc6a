"""Label selectors in their string form, matched as Kubernetes' `labels.Parse` reads them."""

from __future__ import annotations

import pytest

from kidp_gitops.kube import selectors

LABELS = {"tier": "web", "track": "stable", "replicas": "3"}


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("", True),
        ("tier=web", True),
        ("tier==web", True),
        ("tier=api", False),
        ("tier!=api", True),
        ("missing!=x", True),  # a missing key is unequal to anything
        ("tier in (web, api)", True),
        ("tier in (api)", False),
        ("tier notin (api,db)", True),
        ("missing notin (x)", True),
        ("missing in (x)", False),
        ("tier", True),
        ("missing", False),
        ("!missing", True),
        ("!tier", False),
        ("replicas>2", True),
        ("replicas<3", False),
        ("tier>2", False),  # not an integer: not selected
        ("tier=web,track in (stable, canary),!missing", True),
        ("tier=web,track=canary", False),
        ("  tier = web ,  track  ", True),
    ],
)
def test_a_selector_matches_as_kubernetes_reads_it(selector: str, selected: bool) -> None:
    assert selectors.matches(selector, LABELS) is selected


@pytest.mark.parametrize(
    "selector",
    ["tier in (web", "tier in web)", "tier=web,", "=web", "tier in web", "replicas>x", "a b"],
)
def test_a_selector_that_does_not_parse_is_refused(selector: str) -> None:
    with pytest.raises(selectors.InvalidSelector):
        selectors.check(selector)
    with pytest.raises(selectors.InvalidSelector):
        selectors.matches(selector, {"tier": "web", "a": "1"})


def test_a_long_hostile_selector_is_refused_at_once() -> None:
    # A run of spaces once cost time quadratic in its length (2 s at 32 KiB).
    with pytest.raises(selectors.InvalidSelector):
        selectors.check("a" + " " * 15_000 + "x")
    with pytest.raises(selectors.InvalidSelector, match="longer than"):
        selectors.check("a" * (selectors.MAX_LENGTH + 1))

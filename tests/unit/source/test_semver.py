"""Flux's semver range syntax (Masterminds/semver), read by our own parser."""

from __future__ import annotations

import pytest

from kidp_gitops.vcs import giterrors, semver

RANGES = {
    ">=1.0.0 <2.0.0": (["1.0.0", "1.9.9", "v1.5"], ["2.0.0", "0.9.9", "1.5.0-rc.1"]),
    ">= 1.2, < 3.0.0": (["1.2.0", "2.9.9"], ["1.1.9", "3.0.0"]),
    "^1.2": (["1.2.0", "1.99.0"], ["1.1.9", "2.0.0"]),
    "^1.2.3": (["1.2.3", "1.9.0"], ["1.2.2", "2.0.0"]),
    "^0.2.3": (["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"]),
    "^0.0.3": (["0.0.3"], ["0.0.4", "0.0.2"]),
    "^0": (["0.0.1", "0.9.9"], ["1.0.0"]),
    "~1.2.3": (["1.2.3", "1.2.99"], ["1.3.0", "1.2.2"]),
    "~1.2": (["1.2.0", "1.2.5"], ["1.3.0"]),
    "~>1": (["1.0.0", "1.9.0"], ["2.0.0"]),
    "1.x": (["1.0.0", "1.99.1"], ["2.0.0", "0.1.0"]),
    "1.2.X": (["1.2.0", "1.2.7"], ["1.3.0"]),
    "1.2": (["1.2.7"], ["1.3.0"]),
    "*": (["0.0.1", "9.9.9"], ["9.9.9-beta"]),
    "=1.2.3": (["1.2.3", "v1.2.3+build.5"], ["1.2.4"]),
    "!=1.2.3": (["1.2.4"], ["1.2.3"]),
    ">1.2": (["1.3.0"], ["1.2.9"]),
    ">1.2.3": (["1.2.4"], ["1.2.3"]),
    "<1.2": (["1.1.9"], ["1.2.0"]),
    "<=1.2": (["1.2.9"], ["1.3.0"]),
    "1.2 - 1.4.5": (["1.2.0", "1.4.5"], ["1.4.6", "1.1.0"]),
    "2.3.4 - 4.5": (["2.3.4", "4.5.9"], ["4.6.0"]),
    "<1.0.0 || >=3": (["0.9.0", "3.1.0"], ["1.0.0", "2.5.0"]),
    ">=1.2.0-0": (["1.3.0-rc.1", "1.2.0"], ["1.1.0", "1.1.0-rc.1"]),
    "^2.0.0-rc.1": (["2.0.0-rc.1", "2.0.0-rc.2", "2.1.0"], ["2.0.0-beta", "3.0.0-rc.1"]),
}


@pytest.mark.parametrize("text", RANGES)
def test_ranges_match_as_flux_documents(text: str) -> None:
    wanted = semver.parse_range(text)
    yes, no = RANGES[text]
    for v in [*yes, *no]:
        version = semver.parse_version(v)
        assert version is not None, v
        assert wanted.matches(version) == (v in yes), (text, v)


def test_versions_order_as_semver_says() -> None:
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
             "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"]  # fmt: skip
    parsed = [semver.parse_version(v) for v in order]
    assert all(p is not None for p in parsed)
    assert sorted(order, key=lambda v: semver.parse_version(v) or semver.Version(0, 0, 0)) == order


def test_the_best_tag_is_the_highest_match() -> None:
    tags = {t: v for t in ["v1.0.0", "v1.10.0", "v1.9.0", "v2.0.0-rc.1", "latest"]
            if (v := semver.parse_version(t)) is not None}  # fmt: skip
    assert "latest" not in tags
    assert semver.parse_range(">=1.0.0").best(tags) == "v1.10.0"
    assert semver.parse_range(">=2.0.0-0").best(tags) == "v2.0.0-rc.1"
    assert semver.parse_range(">=3").best(tags) is None


@pytest.mark.parametrize("text", ["", "abc", ">=", "1.2.3.4", ">=1 ||", "~banana"])
def test_a_bad_range_says_what_is_wrong(text: str) -> None:
    with pytest.raises(giterrors.InvalidRef, match="semver range"):
        semver.parse_range(text)
